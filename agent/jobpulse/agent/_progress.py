"""Human output of the copy command: a bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import shutil
import sys
import threading

from ._job import Job
from ._records import JobSnapshot


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def human_seconds(s: float | None) -> str:
    if s is None:
        return "--:--"
    s = int(round(s))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def status_line(snap: JobSnapshot) -> str:
    return (
        f"{snap.progress_percent:5.1f}%  {human_bytes(snap.bytes_transferred)} / {human_bytes(snap.total_bytes)}  "
        f"{human_bytes(snap.transfer_speed_bps)}/s  ETA {human_seconds(snap.eta_seconds)}  {snap.current_phase.label}"
    )


def summary_line(snap: JobSnapshot) -> str:
    return (
        f"{snap.status.label}: {len(snap.disks)} disk(s), {human_bytes(snap.bytes_transferred)} of "
        f"{human_bytes(snap.total_bytes)} in {snap.duration_seconds:.1f} s (average {human_bytes(snap.average_speed_bps)}/s)"
    )


class Progress(threading.Thread):
    """Redraws a bar every 0.2 s on a TTY, prints a line every 5 s otherwise."""

    def __init__(self, job: Job, stream=None) -> None:
        super().__init__(name="jobpulse-progress", daemon=True)
        self._job = job
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._done = threading.Event()

    def run(self) -> None:
        interval = 0.2 if self._tty else 5.0
        while not self._done.wait(interval):
            self._draw()

    def _draw(self) -> None:
        snap = self._job.snapshot()
        if self._tty:
            width = shutil.get_terminal_size((80, 20)).columns
            text = status_line(snap)
            bar_w = max(10, width - len(text) - 5)
            filled = int(bar_w * snap.progress_percent / 100)
            self._stream.write(f"\r[{'#' * filled}{'.' * (bar_w - filled)}] {text}"[: width - 1])
        else:
            self._stream.write(status_line(snap) + "\n")
        self._stream.flush()

    def stop(self) -> None:
        self._done.set()
        if self.is_alive():
            self.join(1.0)
        if self._tty:
            self._draw()
            self._stream.write("\n")
            self._stream.flush()
