"""restic: ``backup --json`` status lines (stdout) and error lines (stderr), read as the job's
progress. restic walks its source while it already copies: the total grows during the scan, so
the job is in phase scanning until the total holds still (or restic gives an ETA, which it does
only once the scan finished) and transferring after. ``restore`` prints JSON only from restic
0.17 on; on an older restic it runs as a generic job (phase and final status).

Exit codes: 0 completed; 3 failed ("snapshot incomplete: at least one source file could not be
read", the snapshot exists but misses files); any other failed; ended by SIGINT/SIGTERM cancelled.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

from jobpulse.semconv import JobType, Phase, Status

from ._base import Adapter, Outcome, Reading, find_subcommand, to_int

_COMMANDS = {"backup", "restore", "check", "forget", "prune", "init", "snapshots", "copy", "stats", "mount",
             "ls", "cat", "diff", "dump", "find", "key", "list", "migrate", "rebuild-index", "recover", "repair",
             "self-update", "tag", "unlock", "version", "generate", "help"}
_VALUED = {"-r", "--repo", "--repository-file", "-p", "--password-file", "--password-command", "--cache-dir",
           "--cacert", "--tls-client-cert", "-o", "--option", "--limit-upload", "--limit-download", "--key-hint",
           "--compression", "--pack-size"}
# The total must hold still this long before the scan counts as finished.
SCAN_SETTLE_SECONDS = 2.0
JSON_RESTORE_FROM = (0, 17)


def restic_version(program: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([program, "version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"restic (\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _error_text(message: dict) -> str:
    err = message.get("error")
    if isinstance(err, dict):
        if isinstance(err.get("message"), str):
            text = err["message"]
        else:
            code = err.get("Err")
            reason = os.strerror(code) if isinstance(code, int) else str(code)
            text = f"{err.get('Op', 'error')} {err.get('Path', '')}: {reason}".replace("  ", " ")
    else:
        text = str(err or message.get("message") or "error")
    item = message.get("item")
    during = message.get("during")
    where = f" ({during} of {item})" if during and item and str(item) not in text else ""
    return f"restic: {text}{where}"


class Restic(Adapter):
    name = "restic"
    summary = ("restic backup, and restore from restic 0.17 (adds --json); exit 3, snapshot incomplete, "
               "is a failure")
    progress_stream = "stdout"
    machine_readable = True

    def __init__(self, argv: list[str], *, clock=time.monotonic) -> None:
        super().__init__(argv)
        self._clock = clock
        self._sub = find_subcommand(argv[1:], _COMMANDS, _VALUED)
        self.subcommand = argv[1 + self._sub] if self._sub is not None else None
        self.job_type = JobType.RESTORE if self.subcommand == "restore" else JobType.BACKUP
        self.user_json = "--json" in argv
        self.added_flags = () if self.user_json else ("--json",)
        # Asked for by the user: the JSON is theirs to read, so it stays on the terminal.
        self.machine_readable = not self.user_json
        if self.subcommand == "restore" and (restic_version(argv[0]) or (0, 0)) < JSON_RESTORE_FROM:
            # No JSON progress for a restore before 0.17: restic's own output, phase and end only.
            self.progress_stream, self.added_flags, self.machine_readable = None, (), False
        self._scanning = True
        self._total: int | None = None
        self._total_since = 0.0

    @classmethod
    def recognises(cls, argv: list[str]) -> bool:
        if not argv or os.path.basename(argv[0]) != "restic":
            return False
        sub = find_subcommand(argv[1:], _COMMANDS, _VALUED)
        if sub is None:
            return False
        return argv[1 + sub] in ("backup", "restore")

    def command(self) -> list[str]:
        if self.user_json or not self.added_flags:
            return self.argv
        at = 2 + self._sub  # right after the subcommand
        return [*self.argv[:at], "--json", *self.argv[at:]]

    def parse(self, line: str) -> Reading | None:
        try:
            message = json.loads(line)
        except ValueError:
            return None
        if not isinstance(message, dict):
            return None
        kind = message.get("message_type")
        if kind == "error":
            text = _error_text(message)
            return Reading(error=text, show=text)
        if kind == "summary":
            done = to_int(message.get("total_bytes_processed", message.get("bytes_restored")))
            if done is None:
                return None
            snapshot = message.get("snapshot_id")
            show = (f"restic: {'snapshot ' + str(snapshot) + ' saved' if snapshot else 'done'}: "
                    f"{message.get('files_new', 0)} new, {message.get('files_changed', 0)} changed, "
                    f"{message.get('files_unmodified', 0)} unmodified files; {done} bytes processed, "
                    f"{message.get('data_added', 0)} bytes added")
            return Reading(bytes_done=done, total_bytes=done, final=True, show=show)
        if kind != "status":
            return None
        # restic leaves a 0 out: a status line without total_bytes or bytes_done has counted none yet
        total = to_int(message.get("total_bytes", 0))
        done = to_int(message.get("bytes_done", message.get("bytes_restored", 0)))
        if total is None or done is None:
            return None
        now = self._clock()
        if total != self._total:
            self._total, self._total_since = total, now
        if self._scanning and (message.get("seconds_remaining") or now - self._total_since >= SCAN_SETTLE_SECONDS
                               or self.job_type is JobType.RESTORE):
            self._scanning = False
        return Reading(bytes_done=done, total_bytes=total,
                       phase=Phase.SCANNING if self._scanning else Phase.TRANSFERRING)

    def outcome(self, code: int, *, final_seen: bool, first_error: str | None) -> Outcome:
        if code == 3:
            why = "restic: snapshot incomplete, at least one source file could not be read (exit 3)"
            return Outcome(Status.FAILED, f"{why}: {first_error}" if first_error else why)
        return super().outcome(code, final_seen=final_seen, first_error=first_error)
