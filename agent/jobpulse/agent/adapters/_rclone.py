"""rclone copy/sync/move: the JSON log (``--use-json-log``) with a ``stats`` object every second
(``--stats 1s --stats-log-level NOTICE``), on stderr. ``bytes`` and ``totalBytes`` are the job's
bytes and total; error-level log lines are the job's errors.

Exit codes (rclone's documented ones): 0 completed; 1 syntax or usage error, 2 uncategorised
error, 3 directory not found, 4 file not found, 5 temporary error, 6 less serious errors,
7 fatal error, 8 transfer limit exceeded, 9 no files transferred (--error-on-no-transfer): failed;
ended by SIGINT/SIGTERM: cancelled.
"""

from __future__ import annotations

import json
import os

from ._base import Adapter, Reading, find_subcommand, to_int

_TRANSFERS = {"copy", "sync", "move", "copyto", "moveto", "bisync"}
_VALUED = {"--config", "--bwlimit", "--transfers", "--checkers", "--log-file", "--log-level", "--stats",
           "--stats-log-level", "--filter", "--filter-from", "--include", "--exclude", "--include-from",
           "--exclude-from", "--max-age", "--min-age", "--max-size", "--min-size", "--backup-dir", "--suffix"}
_FLAGS = (("--use-json-log",), ("--stats", "1s"), ("--stats-log-level", "NOTICE"))


class Rclone(Adapter):
    name = "rclone"
    summary = "rclone copy/sync/move/copyto/moveto/bisync (adds --use-json-log --stats 1s --stats-log-level NOTICE)"
    progress_stream = "stderr"
    machine_readable = True

    def __init__(self, argv: list[str]) -> None:
        super().__init__(argv)
        present = set(argv)
        # The user's own settings win; only what is missing is added.
        self._extra = [part for flag in _FLAGS if not any(a == flag[0] or a.startswith(flag[0] + "=")
                                                          for a in present) for part in flag]
        self.added_flags = tuple(" ".join(f) for f in _FLAGS if f[0] in self._extra)

    @classmethod
    def recognises(cls, argv: list[str]) -> bool:
        if not argv or os.path.basename(argv[0]) != "rclone":
            return False
        return find_subcommand(argv[1:], _TRANSFERS, _VALUED) is not None

    def command(self) -> list[str]:
        return [*self.argv, *self._extra]

    def parse(self, line: str) -> Reading | None:
        try:
            entry = json.loads(line)
        except ValueError:
            return None
        if not isinstance(entry, dict):
            return None
        stats = entry.get("stats")
        if isinstance(stats, dict):
            done, total = to_int(stats.get("bytes")), to_int(stats.get("totalBytes"))
            if done is not None:
                return Reading(bytes_done=done, total_bytes=total)
            return None
        msg = str(entry.get("msg", "")).strip()
        if entry.get("level") in ("error", "critical", "fatal"):
            source = f"{entry['object']}: " if entry.get("object") else ""
            return Reading(error=f"rclone: {source}{msg}", show=f"rclone: ERROR: {source}{msg}")
        if msg:
            return Reading(show=f"rclone: {msg}")
        return None
