"""The watcher: a named daemon thread that samples every job a few times a second.

It feeds each job's speed estimator (so the speed and ETA are smoothed over
time, not over exports), and asks for an immediate export when a job crosses a
10 % boundary, or when the periodic export is due. It never exports itself: ``request_export`` only sets an event
for the flusher thread, so a dead collector cannot slow the watcher down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from ._job import Job

_logger = logging.getLogger(__name__)


class Watcher:
    def __init__(
        self,
        jobs: Callable[[], Iterable[Job]],
        request_export: Callable[[], None],
        clock: Callable[[], float],
        interval: float = 0.2,
        periodic: Callable[[float], None] | None = None,
    ) -> None:
        self._jobs = jobs
        self._periodic = periodic
        self._request_export = request_export
        self._clock = clock
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        """One sampling step; tests call it directly with a driven clock."""
        now = self._clock()
        crossed = False
        for job in self._jobs():
            try:
                crossed |= job._tick(now)
            except Exception:  # a bug here must not kill the watcher for every other job
                _logger.exception("watcher: sampling job %s failed", job.job_id)
        if crossed:
            self._request_export()
        if self._periodic is not None:
            self._periodic(now)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="jobpulse-watcher", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
