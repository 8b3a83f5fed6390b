"""``jobpulse-agent run -- COMMAND``: a tool people already run, as a child, its progress read
by an adapter (jobpulse.agent.adapters) and reported as a job.

The child keeps the terminal: the streams an adapter does not read are inherited untouched;
the ones it reads are passed through line by line (a machine-readable line is replaced by our
progress bar, and by the tool's message when the line carries one). The wrapper's exit code is
the child's (128+N when a signal N ended it)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

from jobpulse.semconv import Phase, Status

from ._job import Job
from ._progress import Progress
from .adapters import Adapter, Feed

_CHUNK = 65536


def _splitter(ends: bytes):
    """Cuts a buffer into complete segments (each with its terminator) and the unterminated rest."""
    pattern = re.compile(b"[^" + re.escape(ends) + b"]*[" + re.escape(ends) + b"]")

    def split(buffer: bytes) -> tuple[list[bytes], bytes]:
        segments = pattern.findall(buffer)
        used = sum(len(x) for x in segments)
        return segments, buffer[used:]

    return split


def _pump(source, sink, feed: Feed, *, progress: bool) -> None:
    """Read one child stream to its end; never raises (a broken terminal loses output, not the job)."""
    adapter = feed.adapter
    split = _splitter(adapter.line_ends if progress else b"\n")
    rest = b""
    fd = source.fileno()
    while True:
        try:
            chunk = os.read(fd, _CHUNK)
        except OSError:
            chunk = b""
        segments, rest = split(rest + chunk) if chunk else ([rest] if rest else [], b"")
        for raw in segments:
            text = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            reading = adapter.parse(text) if text else None
            if reading is not None:
                feed.apply(reading)
            elif progress and adapter.machine_readable and text:
                feed.unexpected += 1
            if reading is None or not adapter.machine_readable:
                error = adapter.error_line(text) if text else None
                if error and reading is None:
                    feed.error(error)
                _write(sink, raw)
            elif reading.show:
                _write(sys.stderr.buffer, (reading.show + "\n").encode())
        if not chunk:
            return


def _write(sink, data: bytes) -> None:
    try:
        sink.write(data)
        sink.flush()
    except (OSError, ValueError):
        pass


def _terminal_sent_it() -> bool:
    for fd in (0, 2):
        try:
            if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                return True
        except OSError:
            continue
    return False


def run_child(job: Job, adapter: Adapter, *, show_progress: bool, say) -> int:
    """Run the adapter's command as ``job``; returns the exit code for the wrapper."""
    streams = {"stdout": subprocess.PIPE if adapter.progress_stream else None,
               "stderr": subprocess.PIPE if adapter.progress_stream else None}
    command = adapter.command()
    job.set_phase(Phase.PREPARING)
    try:
        child = subprocess.Popen(command, **streams)
    except OSError as exc:
        job.fail(f"cannot start {command[0]}: {exc.strerror or exc}")
        say(f"cannot start {command[0]}: {exc.strerror or exc}")
        return 127 if isinstance(exc, FileNotFoundError) else 126
    feed = Feed(job, adapter)
    forwarded: list[int] = []

    def forward(signum, _frame) -> None:
        forwarded.append(signum)
        # Ctrl-C on our terminal reached the child too (same foreground process group): sending
        # it again would be a second interrupt, which makes restic quit without its cleanup.
        if signum == signal.SIGINT and _terminal_sent_it():
            return
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    if adapter.progress_stream is None:
        job.set_phase(Phase.RUNNING)
    elif adapter.name != "restic":  # restic says when its scan ends; the others copy from the start
        job.set_phase(Phase.TRANSFERRING)
    pumps = []
    for name, sink in (("stdout", sys.stdout.buffer), ("stderr", sys.stderr.buffer)):
        source = getattr(child, name)
        if source is not None:
            t = threading.Thread(target=_pump, args=(source, sink, feed),
                                 kwargs={"progress": name == adapter.progress_stream},
                                 name=f"jobpulse-run-{name}", daemon=True)
            t.start()
            pumps.append(t)
    bar = Progress(job) if show_progress and adapter.machine_readable else None
    if bar is not None:
        bar.start()
    try:
        code = child.wait()
        for t in pumps:
            t.join()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if bar is not None:
            bar.stop()
    outcome = adapter.outcome(code, final_seen=feed.final_seen, first_error=feed.first_error)
    status, error = outcome.status, outcome.error
    if forwarded and status is not Status.COMPLETED:
        status, error = Status.CANCELLED, None
    if status is Status.COMPLETED:
        job.complete()
    elif status is Status.CANCELLED:
        job.cancel()
    else:
        job.fail(error or f"{adapter.program} failed")
    if feed.unexpected:
        say(f"{feed.unexpected} line(s) of {adapter.name} output were not the progress expected: shown as they came")
    return 128 - code if code < 0 else code
