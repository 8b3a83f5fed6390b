"""Immutable views of a job, as read by the metric callbacks, the CLI and tests."""

from __future__ import annotations

from dataclasses import dataclass

from .semconv import DiskStatus, Phase, Status


def percent(done: int, total: int, finished: bool = False) -> float:
    """Share copied, always within 0..100; an empty job is 100 % only once finished."""
    if total <= 0:
        return 100.0 if finished else 0.0
    return min(100.0, max(0.0, 100.0 * done / total))


@dataclass(frozen=True)
class DiskSnapshot:
    index: int
    total: int
    transferred: int
    status: DiskStatus

    @property
    def percent(self) -> float:
        return percent(self.transferred, self.total, self.status is DiskStatus.COMPLETED)


@dataclass(frozen=True)
class JobSnapshot:
    job_id: str
    job_type: str
    machine: str
    status: Status
    phase: Phase
    transferred: int
    total: int
    percent: float
    speed: float
    eta: float | None
    last_progress_time: float
    start_time: float
    duration: float
    average_speed: float
    error: str | None
    disks: tuple[DiskSnapshot, ...]

    def summary(self) -> dict:
        """The CLI's --summary-json record (the agent CLI contract)."""
        return {
            "job_id": self.job_id,
            "status": self.status.label,
            "bytes_transferred": self.transferred,
            "total_bytes": self.total,
            "duration_seconds": round(self.duration, 3),
            "average_speed_bps": int(self.average_speed),
            "disks": [
                {
                    "disk_index": d.index,
                    "bytes_transferred": d.transferred,
                    "total_bytes": d.total,
                    "status": d.status.label,
                }
                for d in self.disks
            ],
            "error": self.error,
        }
