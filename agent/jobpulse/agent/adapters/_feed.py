"""How a tool's readings become its job's figures: bytes move by exact deltas and never back,
the total follows the tool's but never below what was reported, errors are kept in order."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobpulse.agent import Job

from ._base import Adapter, Reading


class Feed:
    """Readings of one child applied to its job. One lock: two reader threads (stdout and
    stderr) may report at once, and the byte count must move by exact deltas."""

    def __init__(self, job: "Job", adapter: Adapter) -> None:
        self.job = job
        self.adapter = adapter
        self._lock = threading.Lock()
        self.reported = 0
        self.total = 0
        self.first_error: str | None = None
        self.errors = 0
        self.unexpected = 0
        self.final_seen = False

    def apply(self, r: Reading) -> None:
        with self._lock:
            if r.error:
                self.errors += 1
                self.first_error = self.first_error or r.error
            if r.final:
                self.final_seen = True
            done = r.bytes_done if r.bytes_done is not None else self.reported
            # Our figures never go backwards and percent never passes 100: the total follows the
            # tool's but is never below the bytes already reported (restic's can shrink).
            wanted = max(r.total_bytes if r.total_bytes is not None else self.total, done, self.reported)
            if wanted != self.total:
                self.total = wanted
                self.job.revise_total(0, wanted)
            if done > self.reported:
                self.job.advance(0, done - self.reported)
                self.reported = done
            if r.phase is not None and not r.final:
                self.job.set_phase(r.phase)

    def error(self, text: str) -> None:
        with self._lock:
            self.errors += 1
            self.first_error = self.first_error or text
