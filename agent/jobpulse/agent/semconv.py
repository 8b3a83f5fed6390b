"""The jobpulse telemetry contract: every metric name, unit, attribute and code.

This is the single definition the agent emits, the hub reconciles from, and the
dashboards and alert rules are checked against (docs/metrics.md explains it for
people). The collector's influxdb exporter (schema ``telegraf-prometheus-v1``)
turns each metric into an InfluxDB measurement of the same name; resource
attributes, the scope (``otel.library.name``/``otel.library.version``) and the
point attributes below become tags; the value lands in field ``counter`` for the
monotonic sums and ``gauge`` for everything else.

Series budget: phase, status and error are *values* (codes), never attributes,
because a tag that changes value starts a new InfluxDB series. A job costs
``len(JOB_METRICS)`` series plus ``len(DISK_METRICS)`` per disk, plus one
``jobpulse.job.error`` series only if it fails.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

SCOPE_NAME = "jobpulse.agent"

# --- attribute keys (InfluxDB tag keys) -------------------------------------
ATTR_JOB_ID = "job.id"
ATTR_JOB_TYPE = "job.type"
ATTR_MACHINE = "job.machine"
ATTR_DISK_INDEX = "disk.index"
ATTR_ERROR_MESSAGE = "error.message"

JOB_ATTRIBUTES = (ATTR_JOB_ID, ATTR_JOB_TYPE, ATTR_MACHINE)
DISK_ATTRIBUTES = JOB_ATTRIBUTES + (ATTR_DISK_INDEX,)

# Alert labels: the Grafana alert rules name a job's instance with these, and the hub's
# webhook reads them. Underscores, not the attributes' dots: Grafana's notification-policy
# matchers, group_by and silences (and any Prometheus Alertmanager downstream) reject or
# mishandle label names with dots.
ALERT_LABEL_RULE = "rule"
ALERT_LABEL_JOB_ID = "job_id"
ALERT_LABEL_JOB_TYPE = "job_type"
ALERT_LABEL_MACHINE = "job_machine"

# Tags the collector's exporter adds on its own: the instrumentation scope.
TAG_SCOPE_NAME = "otel.library.name"
TAG_SCOPE_VERSION = "otel.library.version"

# --- InfluxDB field keys ----------------------------------------------------
FIELD_COUNTER = "counter"
FIELD_GAUGE = "gauge"

# Longest error text carried as a tag; longer text is cut with an ellipsis.
ERROR_MESSAGE_MAX = 200

# The job id may come from the environment, as the earlier backup client did.
ENV_JOB_ID = "MIGRATEKIT_JOB_ID"


class JobType(str, enum.Enum):
    BACKUP = "backup"
    REPLICATION = "replication"
    RESTORE = "restore"


class Status(enum.IntEnum):
    """Job status, emitted as the value of ``jobpulse.job.status``.

    STALLED is never emitted by an agent: only the hub sets it, from silence.
    """

    PENDING = 0
    RUNNING = 1
    STALLED = 2
    COMPLETED = 3
    FAILED = 4
    CANCELLED = 5

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})


class Phase(enum.IntEnum):
    """Job phase, emitted as the value of ``jobpulse.job.phase``."""

    PENDING = 0
    PREPARING = 1
    SNAPSHOT = 2
    TRANSFERRING = 3
    FINALIZING = 4
    VERIFYING = 5
    DONE = 6

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def moves_bytes(self) -> bool:
        return self is Phase.TRANSFERRING


class DiskStatus(enum.IntEnum):
    """Per-disk state, emitted as the value of ``jobpulse.disk.status``."""

    PENDING = 0
    TRANSFERRING = 1
    COMPLETED = 2
    FAILED = 3
    CANCELLED = 4

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class MetricSpec:
    name: str
    instrument: str  # "observable_counter" | "observable_gauge"
    unit: str
    description: str
    attributes: tuple[str, ...]

    @property
    def field(self) -> str:
        """The InfluxDB field the exporter writes this metric's value to."""
        return FIELD_COUNTER if self.instrument == "observable_counter" else FIELD_GAUGE


def _job(name, instrument, unit, description):
    return MetricSpec(name, instrument, unit, description, JOB_ATTRIBUTES)


def _disk(name, instrument, unit, description):
    return MetricSpec(name, instrument, unit, description, DISK_ATTRIBUTES)


JOB_TRANSFERRED = _job(
    "jobpulse.job.transferred", "observable_counter", "By",
    "Bytes of the job copied so far (sum over its disks, each chunk counted once).",
)
JOB_TOTAL = _job(
    "jobpulse.job.total", "observable_gauge", "By",
    "Bytes the job has to copy in all (sum of its disks' sizes).",
)
JOB_PROGRESS = _job(
    "jobpulse.job.progress", "observable_gauge", "%",
    "Share of the total copied, 0 to 100.",
)
JOB_SPEED = _job(
    "jobpulse.job.speed", "observable_gauge", "By/s",
    "Transfer speed, exponentially smoothed; 0 in phases that move no bytes.",
)
JOB_ETA = _job(
    "jobpulse.job.eta", "observable_gauge", "s",
    "Estimated seconds to completion; not reported while unknown.",
)
JOB_PHASE = _job(
    "jobpulse.job.phase", "observable_gauge", "1",
    "Current phase, as a Phase code.",
)
JOB_STATUS = _job(
    "jobpulse.job.status", "observable_gauge", "1",
    "Current status, as a Status code.",
)
JOB_LAST_PROGRESS = _job(
    "jobpulse.job.last_progress_time", "observable_gauge", "s",
    "Unix time (seconds) when the job last moved a byte; its start time before the first.",
)
JOB_DURATION = _job(
    "jobpulse.job.duration", "observable_gauge", "s",
    "Seconds since the job started; the whole duration once it ended.",
)
JOB_AVERAGE_SPEED = _job(
    "jobpulse.job.average_speed", "observable_gauge", "By/s",
    "Whole-job average speed: bytes copied divided by duration.",
)
JOB_ERROR = MetricSpec(
    "jobpulse.job.error", "observable_gauge", "1",
    "1 once the job failed; the error text is the error.message attribute.",
    JOB_ATTRIBUTES + (ATTR_ERROR_MESSAGE,),
)

DISK_TRANSFERRED = _disk(
    "jobpulse.disk.transferred", "observable_counter", "By",
    "Bytes of this disk copied so far, each chunk counted once.",
)
DISK_TOTAL = _disk(
    "jobpulse.disk.total", "observable_gauge", "By",
    "Size of this disk in bytes.",
)
DISK_STATUS = _disk(
    "jobpulse.disk.status", "observable_gauge", "1",
    "Current disk state, as a DiskStatus code.",
)

JOB_METRICS = (
    JOB_TRANSFERRED, JOB_TOTAL, JOB_PROGRESS, JOB_SPEED, JOB_ETA, JOB_PHASE,
    JOB_STATUS, JOB_LAST_PROGRESS, JOB_DURATION, JOB_AVERAGE_SPEED,
)
DISK_METRICS = (DISK_TRANSFERRED, DISK_TOTAL, DISK_STATUS)
ALL_METRICS = JOB_METRICS + (JOB_ERROR,) + DISK_METRICS
METRICS_BY_NAME = {m.name: m for m in ALL_METRICS}


def series_per_job(disks: int, failed: bool = False) -> int:
    """How many InfluxDB series one job costs."""
    return len(JOB_METRICS) + len(DISK_METRICS) * disks + (1 if failed else 0)
