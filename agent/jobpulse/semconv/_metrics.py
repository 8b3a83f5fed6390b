"""Every metric: name and unit on the wire, and the one name its quantity has from the
agent's snapshot to the hub's job row and JSON field (``quantity``; the seeds' names)."""

from __future__ import annotations

from dataclasses import dataclass

from ._attributes import (
    ATTR_ERROR_MESSAGE,
    DISK_ATTRIBUTES,
    FIELD_COUNTER,
    FIELD_GAUGE,
    JOB_ATTRIBUTES,
)

OBSERVABLE_COUNTER = "observable_counter"
OBSERVABLE_GAUGE = "observable_gauge"


@dataclass(frozen=True)
class MetricSpec:
    name: str
    instrument: str  # OBSERVABLE_COUNTER | OBSERVABLE_GAUGE
    unit: str
    description: str
    attributes: tuple[str, ...]
    quantity: str

    @property
    def field(self) -> str:
        """The InfluxDB field the exporter writes this metric's value to."""
        return FIELD_COUNTER if self.instrument == OBSERVABLE_COUNTER else FIELD_GAUGE


def _job(name, instrument, unit, quantity, description):
    return MetricSpec(name, instrument, unit, description, JOB_ATTRIBUTES, quantity)


def _disk(name, instrument, unit, quantity, description):
    return MetricSpec(name, instrument, unit, description, DISK_ATTRIBUTES, quantity)


JOB_TRANSFERRED = _job(
    "jobpulse.job.transferred", OBSERVABLE_COUNTER, "By", "bytes_transferred",
    "Bytes of the job copied so far (sum over its disks, each chunk counted once).",
)
JOB_TOTAL = _job(
    "jobpulse.job.total", OBSERVABLE_GAUGE, "By", "total_bytes",
    "Bytes the job has to copy in all (sum of its disks' sizes).",
)
JOB_PROGRESS = _job(
    "jobpulse.job.progress", OBSERVABLE_GAUGE, "%", "progress_percent",
    "Share of the total copied, 0 to 100.",
)
JOB_SPEED = _job(
    "jobpulse.job.speed", OBSERVABLE_GAUGE, "By/s", "transfer_speed_bps",
    "Transfer speed, exponentially smoothed; 0 in phases that move no bytes.",
)
JOB_ETA = _job(
    "jobpulse.job.eta", OBSERVABLE_GAUGE, "s", "eta_seconds",
    "Estimated seconds to completion; not reported while unknown.",
)
JOB_PHASE = _job(
    "jobpulse.job.phase", OBSERVABLE_GAUGE, "1", "current_phase",
    "Current phase, as a Phase code.",
)
JOB_STATUS = _job(
    "jobpulse.job.status", OBSERVABLE_GAUGE, "1", "status",
    "Current status, as a Status code.",
)
JOB_LAST_PROGRESS = _job(
    "jobpulse.job.last_progress_time", OBSERVABLE_GAUGE, "s", "last_progress_at",
    "Unix time (seconds) when the job last moved a byte; its start time before the first.",
)
JOB_DURATION = _job(
    "jobpulse.job.duration", OBSERVABLE_GAUGE, "s", "duration_seconds",
    "Seconds since the job started; the whole duration once it ended.",
)
JOB_AVERAGE_SPEED = _job(
    "jobpulse.job.average_speed", OBSERVABLE_GAUGE, "By/s", "average_speed_bps",
    "Whole-job average speed: bytes copied divided by duration.",
)
# Reported only by a job that has a deadline (the end of its window), so it is not one of
# JOB_METRICS, which every job reports.
JOB_DEADLINE = _job(
    "jobpulse.job.deadline", OBSERVABLE_GAUGE, "s", "deadline",
    "Unix time (seconds) by which the job should have ended: the end of its window.",
)
JOB_ERROR = MetricSpec(
    "jobpulse.job.error", OBSERVABLE_GAUGE, "1",
    "1 once the job failed; the error text is the error.message attribute.",
    JOB_ATTRIBUTES + (ATTR_ERROR_MESSAGE,), "error_message",
)

DISK_TRANSFERRED = _disk(
    "jobpulse.disk.transferred", OBSERVABLE_COUNTER, "By", "bytes_transferred",
    "Bytes of this disk copied so far, each chunk counted once.",
)
DISK_TOTAL = _disk(
    "jobpulse.disk.total", OBSERVABLE_GAUGE, "By", "size_bytes",
    "Size of this disk in bytes.",
)
DISK_STATUS = _disk(
    "jobpulse.disk.status", OBSERVABLE_GAUGE, "1", "status",
    "Current disk state, as a DiskStatus code.",
)

JOB_METRICS = (
    JOB_TRANSFERRED, JOB_TOTAL, JOB_PROGRESS, JOB_SPEED, JOB_ETA, JOB_PHASE,
    JOB_STATUS, JOB_LAST_PROGRESS, JOB_DURATION, JOB_AVERAGE_SPEED,
)
DISK_METRICS = (DISK_TRANSFERRED, DISK_TOTAL, DISK_STATUS)
ALL_METRICS = JOB_METRICS + (JOB_ERROR, JOB_DEADLINE) + DISK_METRICS
METRICS_BY_NAME = {m.name: m for m in ALL_METRICS}


def series_per_job(disks: int, failed: bool = False, deadline: bool = False) -> int:
    """How many InfluxDB series one job costs."""
    return len(JOB_METRICS) + len(DISK_METRICS) * disks + (1 if failed else 0) + (1 if deadline else 0)
