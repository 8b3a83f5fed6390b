"""Immutable views of a job, as read by the metric callbacks, the CLI and tests."""

from __future__ import annotations

from dataclasses import dataclass

from jobpulse.semconv import DiskStatus, Phase, Status


def percent(done: int, total: int, finished: bool = False) -> float:
    """Share copied, always within 0..100; an empty job is 100 % only once finished."""
    if total <= 0:
        return 100.0 if finished else 0.0
    return min(100.0, max(0.0, 100.0 * done / total))


@dataclass(frozen=True)
class DiskSnapshot:
    """Field names are the contract's quantities (``MetricSpec.quantity``)."""

    disk_index: int
    size_bytes: int
    bytes_transferred: int
    status: DiskStatus

    @property
    def progress_percent(self) -> float:
        return percent(self.bytes_transferred, self.size_bytes, self.status is DiskStatus.COMPLETED)


@dataclass(frozen=True)
class JobSnapshot:
    """Field names are the contract's quantities (``MetricSpec.quantity``): the metric
    callbacks read them by that name, and the hub's job row uses the same."""

    job_id: str
    job_type: str
    machine: str
    status: Status
    current_phase: Phase
    bytes_transferred: int
    total_bytes: int
    progress_percent: float
    transfer_speed_bps: float
    eta_seconds: float | None
    last_progress_at: float  # Unix seconds
    start_time: float
    duration_seconds: float
    average_speed_bps: float
    error_message: str | None
    disks: tuple[DiskSnapshot, ...]
    deadline: float | None = None  # Unix seconds; None: the job has no window to end in

    def summary(self) -> dict:
        """The CLI's --summary-json record (the agent CLI contract)."""
        return {
            "job_id": self.job_id,
            "status": self.status.label,
            "bytes_transferred": self.bytes_transferred,
            "total_bytes": self.total_bytes,
            "duration_seconds": round(self.duration_seconds, 3),
            "average_speed_bps": int(self.average_speed_bps),
            "disks": [
                {
                    "disk_index": d.disk_index,
                    "bytes_transferred": d.bytes_transferred,
                    "total_bytes": d.size_bytes,
                    "status": d.status.label,
                }
                for d in self.disks
            ],
            "error": self.error_message,
        }
