"""Request and response models (FastAPI full-stack-template families)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from jobpulse.agent.semconv import DiskStatus, JobType, Status

JobTypeName = Literal["backup", "replication", "restore"]
assert set(JobTypeName.__args__) == {t.value for t in JobType}
StatusName = Literal["pending", "running", "stalled", "completed", "failed", "cancelled"]
assert set(StatusName.__args__) == {s.label for s in Status}
DiskStatusName = Literal["pending", "transferring", "completed", "failed", "cancelled"]
assert set(DiskStatusName.__args__) == {s.label for s in DiskStatus}


def _utc(value: datetime | None) -> str | None:
    """Times are stored naive UTC; on the wire they say so (``...Z``)."""
    if value is None:
        return None
    return value.isoformat() + "Z" if value.tzinfo is None else value.isoformat()


class UTCModel(BaseModel):
    pass


# --- jobs ---------------------------------------------------------------------------

class DiskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    disk_index: int = Field(ge=0, le=4095)
    size_bytes: int = Field(default=0, ge=0, le=2**62)


class JobCreate(BaseModel):
    """Registration by the orchestrator before the agent starts."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=191)
    job_type: JobTypeName
    machine: str = Field(min_length=1, max_length=255)
    total_bytes: int | None = Field(default=None, ge=0, le=2**62)
    disks: list[DiskCreate] = Field(default_factory=list, max_length=256)

    @field_validator("id")
    @classmethod
    def _addressable(cls, value: str) -> str:
        # '/' would make the id unaddressable as one path segment; NUL breaks drivers.
        if "/" in value or "\x00" in value:
            raise ValueError("job id must not contain '/' or NUL")
        return value

    @model_validator(mode="after")
    def _unique_disks(self) -> JobCreate:
        indexes = [d.disk_index for d in self.disks]
        if len(indexes) != len(set(indexes)):
            raise ValueError("disk_index values must be unique")
        return self


class DiskPublic(BaseModel):
    disk_index: int
    size_bytes: int
    bytes_transferred: int
    status: str
    progress_percent: float


class JobPublic(UTCModel):
    id: str
    job_type: str
    machine: str
    status: str
    current_phase: str
    bytes_transferred: int
    total_bytes: int
    transfer_speed_bps: int
    eta_seconds: int | None
    progress_percent: float
    average_speed_bps: int | None
    duration_seconds: float | None
    error_message: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    last_telemetry_at: datetime | None
    last_progress_at: datetime | None
    updated_at: datetime
    disks: list[DiskPublic] = Field(default_factory=list)

    _times = field_serializer(
        "created_at", "started_at", "completed_at", "last_telemetry_at", "last_progress_at", "updated_at",
        when_used="json",
    )(lambda self, v: _utc(v))


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int


# --- series ---------------------------------------------------------------------------

class SeriesPoint(UTCModel):
    time: datetime
    value: float

    _times = field_serializer("time", when_used="json")(lambda self, v: _utc(v))


class SeriesLine(BaseModel):
    disk_index: int | None = None
    points: list[SeriesPoint]


class SeriesPublic(UTCModel):
    job_id: str
    metric: str
    unit: str
    aggregate: Literal["mean", "last"]
    step_seconds: int
    start: datetime
    end: datetime
    series: list[SeriesLine]

    _times = field_serializer("start", "end", when_used="json")(lambda self, v: _utc(v))


# --- machines, health, pipeline ----------------------------------------------------------

class MachineSummary(UTCModel):
    machine: str
    completed_jobs: int
    total_bytes: int
    last_completed_at: datetime | None

    _times = field_serializer("last_completed_at", when_used="json")(lambda self, v: _utc(v))


class MachinesSummary(BaseModel):
    job_type: str
    data: list[MachineSummary]
    count: int


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    influxdb: str


class PipelinePublic(UTCModel):
    fresh: bool
    reason: str
    last_reconcile_at: datetime | None
    newest_point_at: datetime | None
    reconciler_id: str | None
    reconcile_age_seconds: float | None
    newest_point_age_seconds: float | None
    freshness_seconds: float
    stalled_after_seconds: int
    failed_after_seconds: int
    auto_register: bool
    unknown_jobs_ignored: int
    pipeline_alert_firing_since: str | None

    _times = field_serializer("last_reconcile_at", "newest_point_at", when_used="json")(lambda self, v: _utc(v))


# --- legacy senders ------------------------------------------------------------------------

class LegacyDisk(BaseModel):
    model_config = ConfigDict(extra="ignore")
    disk_index: int = Field(ge=0, le=4095)
    bytes_transferred: int | None = Field(default=None, ge=0, le=2**62)
    total_bytes: int | None = Field(default=None, ge=0, le=2**62)
    status: DiskStatusName | None = None
    progress_percent: float | None = Field(default=None, ge=0, le=100)


class LegacyTelemetry(BaseModel):
    """The seeds' telemetry payload (job + per-disk fields). Unknown keys are ignored so
    newer senders keep working."""

    model_config = ConfigDict(extra="ignore")
    job_id: str | None = Field(default=None, max_length=191)
    job_type: JobTypeName | None = None
    status: Literal["pending", "running", "completed", "failed", "cancelled"] | None = None
    current_phase: str | None = Field(default=None, max_length=32)
    bytes_transferred: int | None = Field(default=None, ge=0, le=2**62)
    total_bytes: int | None = Field(default=None, ge=0, le=2**62)
    transfer_speed_bps: int | None = Field(default=None, ge=0, le=2**62)
    eta_seconds: int | None = Field(default=None, ge=0, le=2**31 - 1)
    progress_percent: float | None = Field(default=None, ge=0, le=100)
    disks: list[LegacyDisk] = Field(default_factory=list, max_length=256)
    error: str | None = Field(default=None, max_length=4000)
    timestamp: datetime | None = None


# --- Grafana webhook -------------------------------------------------------------------------

class GrafanaAlert(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    fingerprint: str | None = None
    values: dict[str, Any] | None = None


class GrafanaWebhook(BaseModel):
    """Grafana's webhook contact-point payload (only the fields the hub reads are typed)."""

    model_config = ConfigDict(extra="allow")
    receiver: str | None = None
    status: str | None = None
    alerts: list[GrafanaAlert] = Field(default_factory=list, max_length=1000)


class AlertOutcome(BaseModel):
    fingerprint: str | None
    rule: str | None
    job_id: str | None
    status: str
    action: Literal["stalled", "failed", "pipeline_down", "pipeline_up", "none"]
    applied: bool
    reason: str


class WebhookResult(BaseModel):
    received: int
    applied: int
    refused: int
    ignored: int
    pipeline_fresh: bool
    outcomes: list[AlertOutcome]
