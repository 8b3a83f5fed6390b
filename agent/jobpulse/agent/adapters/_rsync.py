"""rsync: its whole-transfer progress line (``--info=progress2``) on stdout, redrawn with carriage
returns: ``  41,353,993  43%   39.09MB/s    0:00:01``. The first figure is the job's bytes; the
total is what the percentage implies (rsync discovers files as it goes, so it may grow), and
the final line's bytes are exact. The progress line is for people, so it stays on the terminal.

Exit codes: 0 completed; 24 ("some files vanished before they could be transferred", rsync's
warning) completed; 20 (SIGINT/SIGUSR1 received) cancelled; any other failed, with rsync's
first error line.
"""

from __future__ import annotations

import os
import re

from jobpulse.semconv import Status

from ._base import Adapter, Outcome, Reading

_PROGRESS = re.compile(r"^\s*(\d[\d,.']*)\s+(\d{1,3})%\s+\S+/s\s+\d+:\d{2}:\d{2}")


class Rsync(Adapter):
    name = "rsync"
    summary = "rsync (adds --info=progress2); exit 24, files vanished during the copy, completes"
    progress_stream = "stdout"
    line_ends = b"\r\n"
    machine_readable = False

    def __init__(self, argv: list[str]) -> None:
        super().__init__(argv)
        asked = any(a.startswith("--info=") and "progress2" in a for a in argv)
        self.added_flags = () if asked else ("--info=progress2",)

    @classmethod
    def recognises(cls, argv: list[str]) -> bool:
        return bool(argv) and os.path.basename(argv[0]) == "rsync"

    def command(self) -> list[str]:
        return [self.argv[0], *self.added_flags, *self.argv[1:]]

    def parse(self, line: str) -> Reading | None:
        m = _PROGRESS.match(line)
        if not m:
            return None
        done = int(re.sub(r"[,.']", "", m.group(1)))
        pct = int(m.group(2))
        total = done if pct >= 100 else (round(done * 100 / pct) if pct > 0 else None)
        return Reading(bytes_done=done, total_bytes=total)

    def error_line(self, line: str) -> str | None:
        text = line.strip()
        return text if text.startswith(("rsync:", "rsync error:")) else None

    def outcome(self, code: int, *, final_seen: bool, first_error: str | None) -> Outcome:
        if code == 24:
            return Outcome(Status.COMPLETED)
        if code == 20:
            return Outcome(Status.CANCELLED)
        return super().outcome(code, final_seen=final_seen, first_error=first_error)
