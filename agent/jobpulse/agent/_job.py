"""One job: lock-free byte accounting on the hot path, state behind a narrow lock.

Byte accounting. ``advance`` adds to a per-thread dict (``threading.local``):
each dict is written by exactly one thread, so ``d[disk] += n`` (a read, an add
and a store, not atomic under the GIL) can never lose an increment to another
writer. Readers sum every thread's dict; an int read from a dict is atomic, so
a reader sees each thread's value either before or after an increment, never a
torn one. No OpenTelemetry call happens in ``advance``.

The rule that keeps a retried chunk from being counted twice is the caller's:
call ``advance`` once per chunk, after the chunk is durably written, and not
again when a failed write of that chunk is retried. Clamping each disk to its
size (so percent stays within 0..100) and never reporting less than was
reported before are guards, not the mechanism.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from ._records import DiskSnapshot, JobSnapshot, percent
from ._speed import SpeedEstimator
from jobpulse.semconv import ERROR_MESSAGE_MAX, DiskStatus, Phase, Status

_logger = logging.getLogger(__name__)


def one_line(text: str, limit: int = ERROR_MESSAGE_MAX) -> str:
    """Error text as one line of at most ``limit`` characters."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat


class Job:
    """A running job; create it with ``Telemetry.start_job`` (or ``jobpulse.agent.start_job``)."""

    def __init__(
        self,
        job_id: str,
        job_type: str,
        machine: str,
        disks: Sequence[int],
        *,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        on_change: Callable[["Job"], None],
        on_end: Callable[["Job"], None],
        speed: SpeedEstimator | None = None,
        total_known: bool = True,
        deadline: float | None = None,
    ) -> None:
        """``total_known=False``: the disks' sizes are not known until the end (a pipe without
        ``--total``); bytes are then not clamped, the total is reported as 0 ("not known yet")
        and, on completion, becomes the bytes copied. ``deadline``: Unix seconds, already checked
        (``resolve_deadline``)."""
        self.job_id = job_id
        self.job_type = job_type
        self.machine = machine
        self._n = len(disks)
        self._disk_range = range(self._n)
        self._clock = clock
        self._wall = wall_clock
        self._on_change = on_change
        self._on_end = on_end
        self._tls = threading.local()
        self._accs: list[dict[int, int]] = []
        # Guards the list of per-thread dicts: taken once per thread, never per chunk.
        self._accs_lock = threading.Lock()
        # Guards everything below (state, sizes, floors, estimator): the watcher, the metric
        # callbacks and the job's owner read and change them from different threads.
        self._lock = threading.Lock()
        self._sizes = [max(0, int(s)) for s in disks]
        self._floor = [0] * self._n  # highest value reported per disk: progress never goes back
        self._disk_status = [DiskStatus.PENDING] * self._n
        self._status = Status.RUNNING
        self._phase = Phase.PENDING
        self._error: str | None = None
        self._start_mono = clock()
        self._start_wall = wall_clock()
        self._end_mono: float | None = None
        self._last_total = 0
        self._last_progress_wall = self._start_wall
        self._speed = speed or SpeedEstimator()
        self._decile = 0
        self._warned_bad_disk = False
        self._total_known = total_known
        self.deadline = deadline

    # --- hot path ---------------------------------------------------------------
    def advance(self, disk: int, nbytes: int) -> None:
        """Count ``nbytes`` more bytes of ``disk`` as durably copied. Never raises."""
        try:
            self._tls.acc[disk] += nbytes
        except (AttributeError, KeyError, TypeError):
            self._advance_slow(disk, nbytes)

    def _advance_slow(self, disk, nbytes) -> None:
        try:
            acc = self._tls.acc
        except AttributeError:
            acc = dict.fromkeys(self._disk_range, 0)
            with self._accs_lock:
                self._accs.append(acc)
            self._tls.acc = acc
        if disk in acc and isinstance(nbytes, int):
            acc[disk] += nbytes
            return
        if not self._warned_bad_disk:
            self._warned_bad_disk = True
            _logger.warning(
                "job %s: ignored advance(%r, %r): disk must be 0..%d and bytes an int",
                self.job_id, disk, nbytes, self._n - 1,
            )

    # --- state changes ----------------------------------------------------------
    def set_phase(self, phase: Phase) -> None:
        phase = Phase(phase)
        with self._lock:
            if self._status.terminal or phase is self._phase:
                return
            self._phase = phase
        self._on_change(self)

    def set_disk_status(self, disk: int, status: DiskStatus) -> None:
        status = DiskStatus(status)
        with self._lock:
            if self._status.terminal or self._disk_status[disk] is status:
                return
            self._disk_status[disk] = status
        self._on_change(self)

    def revise_total(self, disk: int, new_size: int) -> None:
        """Change a disk's size: the one way its progress may go down or its total change
        (and the way a total not known at the start becomes known)."""
        with self._lock:
            self._total_known = True
            self._sizes[disk] = max(0, int(new_size))
            self._floor[disk] = min(self._floor[disk], self._sizes[disk])
            self._decile = int(self._percent_locked() // 10)
        self._on_change(self)

    def complete(self) -> None:
        self._finish(Status.COMPLETED, None)

    def fail(self, error: str) -> None:
        self._finish(Status.FAILED, one_line(error) or "failed")

    def cancel(self) -> None:
        self._finish(Status.CANCELLED, None)

    def _finish(self, status: Status, error: str | None) -> None:
        disk_end = {
            Status.COMPLETED: DiskStatus.COMPLETED,
            Status.FAILED: DiskStatus.FAILED,
            Status.CANCELLED: DiskStatus.CANCELLED,
        }[status]
        with self._lock:
            if self._status.terminal:
                return  # the first ending wins; later ones are no-ops
            self._sample_locked()
            self._status = status
            self._error = error
            if status is Status.COMPLETED:
                self._phase = Phase.DONE
                if not self._total_known:  # the end is the first moment the total is known
                    self._sizes = list(self._floor)
                    self._total_known = True
            self._end_mono = self._clock()
            for i, s in enumerate(self._disk_status):
                if s in (DiskStatus.PENDING, DiskStatus.TRANSFERRING):
                    self._disk_status[i] = disk_end
        self._on_end(self)

    def __enter__(self) -> "Job":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.complete()
        elif issubclass(exc_type, KeyboardInterrupt):
            self.cancel()
        else:
            self.fail(f"{exc_type.__name__}: {exc}")
        return False

    # --- reading ----------------------------------------------------------------
    @property
    def status(self) -> Status:
        return self._status

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def disk_count(self) -> int:
        return self._n

    def _raw_locked(self) -> list[int]:
        with self._accs_lock:
            accs = list(self._accs)
        raw = [0] * self._n
        for acc in accs:
            for i in self._disk_range:
                raw[i] += acc[i]
        return raw

    def _sample_locked(self) -> list[int]:
        """Per-disk bytes: clamped to size and never below what was reported before."""
        raw = self._raw_locked()
        floor, sizes = self._floor, self._sizes
        for i in self._disk_range:
            v = min(raw[i], sizes[i]) if self._total_known else raw[i]
            if v > floor[i]:
                floor[i] = v
        total = sum(floor)
        if total != self._last_total:
            self._last_total = total
            self._last_progress_wall = self._wall()
        return list(floor)

    def _percent_locked(self) -> float:
        total = sum(self._sizes) if self._total_known else 0
        return percent(sum(self._floor), total, self._status is Status.COMPLETED)

    def _tick(self, now: float) -> bool:
        """Watcher step: feed the speed estimator; True when a 10 % boundary was crossed."""
        with self._lock:
            if self._status.terminal:
                return False
            done = sum(self._sample_locked())
            self._speed.update(now, done, self._phase.moves_bytes)
            decile = int(self._percent_locked() // 10)
            crossed = decile != self._decile
            self._decile = decile
        return crossed

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            ended = self._status.terminal
            # Bytes reported after the end (a straggling worker) must not change final figures.
            per_disk = list(self._floor) if ended else self._sample_locked()
            total = sum(self._sizes) if self._total_known else 0
            done = sum(per_disk)
            moving = self._phase.moves_bytes and not ended
            end = self._end_mono if ended else self._clock()
            duration = max(0.0, end - self._start_mono)
            if self._status is Status.COMPLETED:
                eta: float | None = 0.0
            elif ended:
                eta = None
            elif not self._total_known:
                eta = None
            else:
                eta = self._speed.eta(total - done, moving)
            return JobSnapshot(
                job_id=self.job_id,
                job_type=self.job_type,
                machine=self.machine,
                status=self._status,
                current_phase=self._phase,
                bytes_transferred=done,
                total_bytes=total,
                progress_percent=self._percent_locked(),
                transfer_speed_bps=self._speed.speed(moving),
                eta_seconds=eta,
                last_progress_at=self._last_progress_wall,
                start_time=self._start_wall,
                duration_seconds=duration,
                average_speed_bps=done / duration if duration > 0 else 0.0,
                error_message=self._error,
                disks=tuple(
                    DiskSnapshot(i, self._sizes[i] if self._total_known else 0, per_disk[i], self._disk_status[i])
                    for i in self._disk_range
                ),
                deadline=self.deadline,
            )
