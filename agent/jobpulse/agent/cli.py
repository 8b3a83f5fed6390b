"""``jobpulse-agent``: the command line (``copy`` reports through the agent like a backup client).

Exit codes: 0 completed, 1 failed, 130 cancelled (Ctrl-C, SIGTERM), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ._copy import CopyError, Disk, TokenBucket, copy_disk, finalize, make_demo_sources, source_size
from ._errors import InvalidDeadline, InvalidJobId, JobpulseError
from ._progress import Progress, summary_line
from ._telemetry import DEADLINE_HORIZON_DAYS, configure, resolve_deadline, resolve_job_id
from jobpulse.semconv import ENV_JOB_ID, ID_MAX, JOB_DEADLINE, DiskStatus, JobType, Phase, Status

PROG = "jobpulse-agent"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.I)
# The sign is parsed only so that "-5m" is told "must be positive", not "not a duration".
_DURATION = re.compile(r"^(-)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_DEADLINE_FORMS = "a time (2026-12-03T06:00:00Z, 2026-12-03T06:00:00+01:00) or a duration (90s, 45m, 2h, 1h30m, 1d)"


def parse_size(text: str) -> int:
    """'64K', '20M', '1G', '1.5GiB' or plain bytes (binary multiples)."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 64K, 20M, 1G)")
    value = float(m.group(1)) * 1024 ** "_kmgt".index((m.group(2) or "_").lower())
    if value <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive: {text!r}")
    return int(value)


def parse_deadline(text: str) -> datetime | timedelta:
    """--deadline: an ISO 8601 / RFC 3339 time (without an offset: UTC) or a duration from now.
    Raises InvalidDeadline for anything else; resolve_deadline judges the time itself."""
    clean = text.strip()
    m = _DURATION.match(clean.lower())
    if m and any(m.groups()[1:]):
        days, hours, minutes, seconds = (int(g or 0) for g in m.groups()[1:])
        try:
            duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        except OverflowError:
            raise InvalidDeadline(f"deadline is more than {DEADLINE_HORIZON_DAYS} days ahead") from None
        return -duration if m.group(1) else duration
    try:
        at = datetime.fromisoformat(clean.upper())  # RFC 3339 allows a lower-case t and z
    except ValueError:
        at = None
    # A date alone would be a guess (start or end of that day?): a deadline needs its time of day.
    if at is None or not ("T" in clean.upper() or " " in clean):
        raise InvalidDeadline(f"not {_DEADLINE_FORMS}")
    return at


def _deadline(text: str | None) -> datetime | None:
    """--deadline as an aware datetime, fixed once here so that setting the job up (demo
    data, the SDK's import) does not move a "2h"."""
    if text is None:
        return None
    return datetime.fromtimestamp(resolve_deadline(parse_deadline(text)), timezone.utc)


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError("seconds must not be negative")
    return v


def _deadline_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--deadline", metavar="TIME|DURATION",
                   help=f"when the job should have ended, the end of its window, reported as {JOB_DEADLINE.name}: "
                   f"{_DEADLINE_FORMS} from now; a time without an offset is UTC; at most "
                   f"{DEADLINE_HORIZON_DAYS} days ahead (default: no deadline)")


def _job_options(p: argparse.ArgumentParser, *, default_type: str | None = "backup") -> None:
    p.add_argument("--job-id", help=f"job id (default ${ENV_JOB_ID}, else TYPE-MACHINE-UNIXTIME); 1 to {ID_MAX} "
                   "characters, no '/' or control character, not '.' or '..'; every run needs its own")
    p.add_argument("--job-type", "--type", dest="job_type", default=default_type, choices=[t.value for t in JobType],
                   help="kind of job (default: %s)" % (default_type or "from the tool: restore for restic restore, "
                                                        "else backup"))
    p.add_argument("--machine", default=None, help="machine/VM name (default: this host's name)")
    _deadline_option(p)
    p.add_argument("--no-telemetry", action="store_true", help="run without any OpenTelemetry")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    p.add_argument("--summary-json", action="store_true", help="print a final JSON summary line on stderr")


def _adapters_help() -> str:
    from .adapters import KNOWN

    lines = ["tools whose progress is read (flags added to the command so that it prints it):"]
    for kind in KNOWN:
        lines.append(f"  {kind.name:8} {kind.summary}")
    lines.append("  any other command runs unchanged, reported with its phase (running) and final status only.")
    lines.append("exit code: the command's own (128+N when signal N ended it); SIGINT/SIGTERM are passed to it.")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Report long data jobs as OpenTelemetry metrics.")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a tool (restic, rclone, rsync, any command) and report its progress",
                       description="Run COMMAND as a child and report its progress as a job.",
                       epilog=_adapters_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    _job_options(r, default_type=None)
    r.add_argument("tool", nargs=argparse.REMAINDER, metavar="-- COMMAND ...",
                   help="the command and its arguments, after --")
    m = sub.add_parser("pipe", help="copy stdin to stdout unchanged, reporting the bytes as a job (like pv)",
                       description="A pipe meter: `producer | jobpulse-agent pipe --total N | consumer`. Exits 141 "
                       "when the reader goes away (broken pipe), 1 when input ends before --total bytes.")
    _job_options(m)
    size = m.add_mutually_exclusive_group()
    size.add_argument("--total", type=parse_size, metavar="BYTES",
                      help="bytes expected, for percent and ETA (e.g. 1073741824 or 1G); without it: bytes and speed")
    size.add_argument("--total-from", type=Path, metavar="PATH", help="expect as many bytes as PATH holds")
    p = sub.add_parser("copy", help="copy disk images in parallel, reporting progress over OTLP")
    p.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="files or block devices to copy, one disk each (none: generated demo disks)")
    p.add_argument("--dest", required=True, type=Path, metavar="DIR", help="destination directory")
    p.add_argument("--job-id", help=f"job id (default ${ENV_JOB_ID}, else TYPE-MACHINE-UNIXTIME); 1 to {ID_MAX} "
                   "characters, no '/' or control character, not '.' or '..'; every run needs its own")
    p.add_argument("--job-type", default="backup", choices=[t.value for t in JobType],
                   help="kind of job (default: %(default)s)")
    p.add_argument("--machine", default=None, help="machine/VM name (default: this host's name)")
    _deadline_option(p)
    p.add_argument("--chunk-size", type=parse_size, default=64 * 1024, metavar="SIZE",
                   help="bytes read and written per step, e.g. 1M (default: 64K)")
    p.add_argument("--max-rate", type=parse_size, default=None, metavar="RATE",
                   help="limit on the total bytes/s over all disks, e.g. 20M (default: none)")
    p.add_argument("--snapshot-seconds", type=_seconds, default=0.0, metavar="S",
                   help="time spent in the snapshot phase before the transfer (default: 0)")
    p.add_argument("--finalize-seconds", type=_seconds, default=0.0, metavar="S",
                   help="extra time spent in the finalizing phase after the transfer (default: 0)")
    p.add_argument("--demo-disks", type=int, default=3, metavar="N",
                   help="number of demo disks generated when no SOURCE is given (default: %(default)s)")
    p.add_argument("--demo-size", type=parse_size, default=64 * 1024 * 1024, metavar="SIZE",
                   help="size of each generated demo disk (default: 64M)")
    p.add_argument("--no-telemetry", action="store_true", help="copy without any OpenTelemetry")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    p.add_argument("--summary-json", action="store_true", help="print a final JSON summary line on stdout")
    return parser


def _say(text: str) -> None:
    sys.stderr.write(f"{PROG}: {text}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s")
    text = args.deadline
    try:
        args.deadline = _deadline(text)  # before anything else is done: a usage error
        if args.command == "copy":
            code = copy_command(args)
        elif args.command == "run":
            code = run_command(args)
        elif args.command == "pipe":
            code = pipe_command(args)
        else:  # pragma: no cover - argparse rejects unknown commands
            code = EXIT_USAGE
    except InvalidDeadline as exc:  # also raised by start_job when a deadline passed during set-up
        _say(f"invalid --deadline {text!r}: {exc}")
        code = EXIT_USAGE
    return code


def _prepare(args, default_type: str):
    """(job id, telemetry) for run and pipe, or an exit code: the id is checked before any
    telemetry exists."""
    machine = args.machine or socket.gethostname()
    try:
        job_id = resolve_job_id(args.job_type or default_type, machine, args.job_id)
    except InvalidJobId as exc:
        _say(f"invalid job id: {exc}")
        return EXIT_USAGE
    try:
        telemetry = configure(enabled=not args.no_telemetry)
    except JobpulseError as exc:
        _say(f"telemetry: {exc}")
        return EXIT_USAGE
    return machine, job_id, telemetry


def _finish(job, telemetry, args, code: int) -> int:
    snap = job.snapshot()
    telemetry.shutdown()
    if not args.no_progress:
        sys.stderr.write(summary_line(snap) + "\n")
    if args.summary_json:
        sys.stderr.write(json.dumps(snap.summary()) + "\n")
    return code


def run_command(args) -> int:
    from ._run import run_child
    from .adapters import adapter_for

    tool = args.tool[1:] if args.tool[:1] == ["--"] else args.tool
    if not tool:
        _say("run: no command given (jobpulse-agent run [options] -- COMMAND ARGS...)")
        return EXIT_USAGE
    adapter = adapter_for(tool)
    prepared = _prepare(args, adapter.job_type.value)
    if isinstance(prepared, int):
        return prepared
    machine, job_id, telemetry = prepared
    if telemetry.enabled and not args.no_progress:
        extra = f" (added {' '.join(adapter.added_flags)})" if adapter.added_flags else ""
        _say(f"telemetry: {telemetry.description}; reading {adapter.name} progress{extra}")
    job = telemetry.start_job(args.job_type or adapter.job_type.value, machine, [0], job_id, deadline=args.deadline)
    code = run_child(job, adapter, show_progress=not args.no_progress, say=_say)
    return _finish(job, telemetry, args, code)


def pipe_command(args) -> int:
    from ._pipe import meter

    total = args.total
    if args.total_from is not None:
        try:
            total = source_size(args.total_from)
        except CopyError as exc:
            _say(f"pipe: --total-from: {exc}")
            return EXIT_USAGE
    prepared = _prepare(args, "backup")
    if isinstance(prepared, int):
        return prepared
    machine, job_id, telemetry = prepared
    job = telemetry.start_job(args.job_type, machine, [total or 0], job_id, total_known=total is not None,
                              deadline=args.deadline)
    progress = None
    if not args.no_progress:
        progress = Progress(job)
        progress.start()
    def terminated(signum, _frame):
        raise _Interrupted(signum)

    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGINT, terminated)
    try:
        code, error = meter(job, total)
    except _Interrupted as stop:
        code, error = 128 + stop.signum, None
        job.cancel()
        _say("pipe: cancelled")
    finally:
        if progress is not None:
            progress.stop()
    if job.status is not Status.CANCELLED:
        if error is None:
            job.complete()
        else:
            job.fail(error)
            _say(f"pipe: {error}")
    return _finish(job, telemetry, args, code)


class _Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _Cancel:
    """SIGINT/SIGTERM: the first asks the copy to stop; a second one exits at once."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.requested = False

    def __call__(self, signum, frame) -> None:
        if self.requested:
            os._exit(EXIT_CANCELLED)
        self.requested = True
        self.stop.set()


def _plan(args) -> list[tuple[Path, Path]]:
    if args.sources:
        sources = [Path(s) for s in args.sources]
        dest = args.dest
        names = [s.name for s in sources]
        dup = len(set(names)) != len(names)
        return [(s, dest / (f"{i}-{s.name}" if dup else s.name)) for i, s in enumerate(sources)]
    if args.demo_disks < 1:
        raise CopyError("--demo-disks must be at least 1")
    srcs = make_demo_sources(args.dest / "sources", args.demo_disks, args.demo_size)
    (args.dest / "copies").mkdir(parents=True, exist_ok=True)
    return [(s, args.dest / "copies" / s.name) for s in srcs]


def copy_command(args) -> int:
    machine = args.machine or socket.gethostname()
    try:
        job_id = resolve_job_id(args.job_type, machine, args.job_id)
    except InvalidJobId as exc:  # before any telemetry: a job the hub could not address
        _say(f"invalid job id: {exc}")
        return EXIT_USAGE
    stop = threading.Event()
    cancel = _Cancel(stop)
    signal.signal(signal.SIGINT, cancel)
    signal.signal(signal.SIGTERM, cancel)
    try:
        plan = _plan(args)
    except (CopyError, OSError) as exc:
        plan, early_error = [], (str(exc) if isinstance(exc, CopyError) else f"cannot create demo data: {exc}")
    else:
        early_error = None
    try:
        telemetry = configure(enabled=not args.no_telemetry)
    except JobpulseError as exc:
        _say(f"telemetry: {exc}")
        return EXIT_USAGE
    if telemetry.enabled:
        _say(f"telemetry: {telemetry.description}")

    sizes, errors = [], []
    for src, _ in plan:
        try:
            sizes.append(source_size(src))
        except CopyError as exc:
            sizes.append(0)
            errors.append(str(exc))
    job = telemetry.start_job(args.job_type, machine, sizes, job_id, deadline=args.deadline)
    job.set_phase(Phase.PREPARING)
    if early_error is None and not errors:
        if not args.dest.is_dir():
            errors.append(f"destination {args.dest} does not exist or is not a directory")
        elif not os.access(args.dest, os.W_OK | os.X_OK):
            errors.append(f"destination {args.dest} is not writable")
    error = early_error or (errors[0] if errors else None)
    disks = [Disk(i, s, d, sizes[i]) for i, (s, d) in enumerate(plan)]
    progress = None
    if error is None:
        if not args.no_progress:
            progress = Progress(job)
            progress.start()
        error = _run(job, disks, args, stop)
        if progress is not None:
            progress.stop()

    if error is not None:
        job.fail(error)
    elif cancel.requested:
        job.cancel()
    else:
        job.complete()
    snap = job.snapshot()
    telemetry.shutdown()
    if error is not None:
        _say(f"copy failed: {error}")
    elif cancel.requested:
        _say("copy cancelled")
    if not args.no_progress or error is None:
        sys.stderr.write(summary_line(snap) + "\n")
    if args.summary_json:
        sys.stdout.write(json.dumps(snap.summary()) + "\n")
        sys.stdout.flush()
    return {Status.COMPLETED: EXIT_OK, Status.CANCELLED: EXIT_CANCELLED}.get(snap.status, EXIT_FAILED)


def _run(job, disks: list[Disk], args, stop: threading.Event) -> str | None:
    """Phases snapshot -> transferring -> finalizing; the first error (one line) or None."""
    if args.snapshot_seconds:
        job.set_phase(Phase.SNAPSHOT)
        stop.wait(args.snapshot_seconds)
    if stop.is_set():
        return None
    job.set_phase(Phase.TRANSFERRING)
    bucket = TokenBucket(args.max_rate) if args.max_rate else None
    errors: list[str] = []
    errors_lock = threading.Lock()  # workers report their failure concurrently

    def work(disk: Disk) -> None:
        try:
            done = copy_disk(job, disk, args.chunk_size, stop, bucket)
            job.set_disk_status(disk.index, DiskStatus.COMPLETED if done else DiskStatus.CANCELLED)
        except CopyError as exc:
            job.set_disk_status(disk.index, DiskStatus.FAILED)
            with errors_lock:
                errors.append(str(exc))
            stop.set()  # one failed disk fails the job: the others stop
        except Exception as exc:  # never a stack trace to the user; keep the reason
            job.set_disk_status(disk.index, DiskStatus.FAILED)
            with errors_lock:
                errors.append(f"disk {disk.index} ({disk.source}): {type(exc).__name__}: {exc}")
            stop.set()

    threads = [threading.Thread(target=work, args=(d,), name=f"jobpulse-copy-{d.index}") for d in disks]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)  # short joins keep the main thread free to run signal handlers
    if errors:
        return errors[0]
    if stop.is_set():
        return None
    job.set_phase(Phase.FINALIZING)
    try:
        finalize(disks)
    except CopyError as exc:
        return str(exc)
    if args.finalize_seconds:
        stop.wait(args.finalize_seconds)
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
