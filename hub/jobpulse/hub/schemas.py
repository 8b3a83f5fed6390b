"""Request and response models (FastAPI full-stack-template families).

Job fields carry the contract's quantity names (``semconv.MetricSpec.quantity``), the
same as ``state.JobState`` and the job row; tests/hub/test_fields.py pins the three to
one list.
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import quote
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    create_model,
    field_validator,
    model_validator,
)

from jobpulse.hub.core.clock import to_naive_utc, utcnow
from jobpulse.hub.state import JOB_FIELDS, SNAPSHOT_FIELDS, DiskState, JobState, NodeSnapshot
from jobpulse.hub.influx import NODE_SERIES_QUANTITIES
from jobpulse.hub.store import StoredJob, StoredNode
from jobpulse.semconv import ID_MAX, METRICS_BY_NAME, DiskStatus, JobType, Status, job_id_problem, node_id_problem

MetricName = Literal[tuple(sorted(METRICS_BY_NAME))]
NodeMetricName = Literal[NODE_SERIES_QUANTITIES]
# A chart step: a whole number of seconds, minutes or hours.
STEP_PATTERN = "^[1-9][0-9]{0,5}[smh]$"
JobTypeName = Literal["backup", "replication", "restore"]
assert set(JobTypeName.__args__) == {t.value for t in JobType}
StatusName = Literal["pending", "running", "stalled", "completed", "failed", "cancelled"]
assert set(StatusName.__args__) == {s.label for s in Status}
DiskStatusName = Literal["pending", "transferring", "completed", "failed", "cancelled"]
assert set(DiskStatusName.__args__) == {s.label for s in DiskStatus}


def _utc(value: datetime) -> str:
    return value.isoformat() + "Z" if value.tzinfo is None else value.isoformat()


# The id rule (jobpulse.semconv.job_id_problem) as JSON Schema, for generated clients; the
# dot segments "." and ".." are refused too, which a portable pattern cannot say.
ID_PATTERN = "^[^/\\u0000-\\u001f\\u007f]+$"
JOB_ID_RULE = (f"1 to {ID_MAX} characters, none of them '/' or a control character, and not '.' or '..' "
               "(docs/hub.md, job ids)")

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?$")


def _rfc3339(value: Any) -> Any:
    # pydantic alone also takes 0.5 or "2026-12-02" as a datetime; the document promises
    # RFC 3339 date-times, so anything else is refused (an offset may be left out: UTC).
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("expected an RFC 3339 date-time, e.g. 2026-12-02T10:00:00Z")
    return value


# A time a client sends (query or body).
DateTimeIn = Annotated[datetime, BeforeValidator(_rfc3339)]

# A deadline is the end of a backup window: within a year of now. Further out (or before
# 2000) it is a unit slip or a typo, and would only ever make a job look on time.
DEADLINE_MAX_AHEAD = timedelta(days=366)
_DEADLINE_MIN = datetime(2000, 1, 1)


def _sane_deadline(value: datetime) -> datetime:
    naive = to_naive_utc(value)
    if naive < _DEADLINE_MIN:
        raise ValueError("deadline is before the year 2000")
    if naive > utcnow() + DEADLINE_MAX_AHEAD:
        raise ValueError(f"deadline is more than {DEADLINE_MAX_AHEAD.days} days ahead")
    return naive


def _future_deadline(value: datetime) -> datetime:
    if value <= utcnow():
        raise ValueError("deadline is in the past: a job is registered before its window ends")
    return value


# On the legacy payload a past deadline is the news itself (the job runs past its window), so
# only absurd ones are refused; registration happens before the job, so there it is refused too.
DeadlineIn = Annotated[datetime, BeforeValidator(_rfc3339), AfterValidator(_sane_deadline)]
FutureDeadlineIn = Annotated[DeadlineIn, AfterValidator(_future_deadline)]

# An id in a path: the same rule (the dot segments end as 404: no id is "." or "..").
JobIdPath = Annotated[str, Path(min_length=1, max_length=ID_MAX, pattern=ID_PATTERN, description=JOB_ID_RULE)]
NodeIdPath = Annotated[str, Path(min_length=1, max_length=ID_MAX, pattern=ID_PATTERN,
                                 description=JOB_ID_RULE.replace("(docs/hub.md, job ids)", "(docs/nodes.md)"))]

# Times are stored naive UTC; on the wire they say so (``...Z``).
UTCDateTime = Annotated[datetime, PlainSerializer(_utc, return_type=str, when_used="json")]


class Problem(BaseModel):
    """Every error the hub answers, except 422 (FastAPI's list of validation errors)."""

    detail: str


_NUMBER_TYPES = (int, float, int | None, float | None)


class JsonBody(BaseModel):
    """A body a client sends: its numbers must be JSON numbers (pydantic's lax mode would also
    take false or "12" for one, which the document does not allow)."""

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                value = data.get(name)
                if value is None or field.annotation not in _NUMBER_TYPES:
                    continue
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"{name}: expected a JSON number")
        return data


# The largest count a body may carry: the largest integer every JSON reader keeps exact
# (I-JSON, RFC 7493); 256 disks of it still sum inside the BIGINT columns.
COUNT_MAX = 2**53 - 1

# --- jobs ---------------------------------------------------------------------------

class DiskCreate(JsonBody):
    model_config = ConfigDict(extra="forbid")
    disk_index: int = Field(ge=0, le=4095)
    size_bytes: int = Field(default=0, ge=0, le=COUNT_MAX)


class JobBase(BaseModel):
    id: str
    job_type: str
    machine: str


class JobCreate(JobBase, JsonBody):
    """Registration by the orchestrator before the agent starts."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=ID_MAX, description=JOB_ID_RULE,
                    json_schema_extra={"pattern": ID_PATTERN})
    job_type: JobTypeName
    machine: str = Field(min_length=1, max_length=255)
    total_bytes: int | None = Field(default=None, ge=0, le=COUNT_MAX)
    disks: list[DiskCreate] = Field(default_factory=list, max_length=256)
    deadline: FutureDeadlineIn | None = Field(
        default=None, description="the end of the job's window (RFC 3339, within 366 days): job_late warns "
                                  "when the job's predicted completion passes it")

    @field_validator("id")
    @classmethod
    def _addressable(cls, value: str) -> str:
        problem = job_id_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _unique_disks(self) -> JobCreate:
        indexes = [d.disk_index for d in self.disks]
        if len(indexes) != len(set(indexes)):
            raise ValueError("disk_index values must be unique")
        return self

    def to_state(self, now: datetime) -> JobState:
        disks = tuple(
            DiskState(disk_index=d.disk_index, size_bytes=d.size_bytes)
            for d in sorted(self.disks, key=lambda d: d.disk_index)
        )
        total = self.total_bytes if self.total_bytes is not None else sum(d.size_bytes for d in disks)
        return JobState(id=self.id, job_type=self.job_type, machine=self.machine, total_bytes=total,
                        created_at=now, deadline=self.deadline, disks=disks)


class DiskPublic(BaseModel):
    disk_index: int
    size_bytes: int
    bytes_transferred: int
    status: str
    progress_percent: float


class JobPublic(JobBase):
    node: str | None
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
    created_at: UTCDateTime
    started_at: UTCDateTime | None
    completed_at: UTCDateTime | None
    last_telemetry_at: UTCDateTime | None
    last_progress_at: UTCDateTime | None
    deadline: UTCDateTime | None = Field(description="the end of the job's window, if it has one")
    predicted_completion_at: UTCDateTime | None = Field(
        description="when the job ends at its smoothed speed (held in phases that move no bytes)")
    predicted_completion_latest_at: UTCDateTime | None = Field(
        description="when it ends at the slower of its smoothed and whole-job average speed: the band's late end")
    usual_speed_bps: int | None = Field(
        description="median average speed of the newest completed jobs of this machine and job type")
    speed_vs_usual: float | None = Field(
        description="smoothed speed / usual_speed_bps; null while fewer than 3 such jobs completed")
    past_deadline_since: UTCDateTime | None = Field(
        description="since when the late end of the prediction is past the deadline")
    below_usual_since: UTCDateTime | None = Field(
        description="since when the job moves below the slow ratio of its usual speed")
    late: bool = Field(description="the job_late alert fires for this job")
    late_since: UTCDateTime | None
    slow: bool = Field(description="the job_slow alert fires for this job")
    slow_since: UTCDateTime | None
    sender: str | None = Field(description="the agent process (service.instance.id) the job's figures come from")
    conflicting_sender: str | None = Field(
        description="another process that reported this job id; its points were refused")
    conflicting_sender_since: UTCDateTime | None
    updated_at: UTCDateTime
    node_url: str | None = Field(default=None, description="the node the job runs on, in the node API")
    disks: list[DiskPublic] = Field(default_factory=list)

    @staticmethod
    def fields_of(job: StoredJob) -> dict[str, Any]:
        node = job.state.node
        return {f: getattr(job.state, f) for f in JOB_FIELDS} | {
            "updated_at": job.updated_at,
            "node_url": f"/api/v1/nodes/{quote(node, safe='')}" if node else None,
            "disks": [dataclasses.asdict(d) for d in job.state.disks],
        }

    @classmethod
    def of(cls, job: StoredJob) -> JobPublic:
        return cls.model_validate(cls.fields_of(job))

    @classmethod
    def trusted(cls, job: StoredJob) -> JobPublic:
        """Without validation: the store's rows already have the public shape (the list
        endpoint serializes many of them once instead of validating each twice)."""
        fields = cls.fields_of(job)
        fields["disks"] = [DiskPublic.model_construct(**d) for d in fields["disks"]]
        return cls.model_construct(**fields)


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int


class JobsQuery(BaseModel):
    """GET /jobs's query: one model, validated by pydantic-core in one call. Nine parameters
    each validated on its own cost the list more CPU than reading its page (bench/bench_hub.py)."""

    status: StatusName | None = None
    job_type: JobTypeName | None = None
    machine: Annotated[str | None, Field(max_length=255)] = None
    created_after: DateTimeIn | None = None
    created_before: DateTimeIn | None = None
    skip: Annotated[int, Field(ge=0, le=10_000_000)] = 0
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    include_disks: bool = False


# --- series ---------------------------------------------------------------------------

class SeriesPoint(BaseModel):
    time: UTCDateTime
    value: float


class SeriesLine(BaseModel):
    disk_index: int | None = None
    points: list[SeriesPoint]


class SeriesPublic(BaseModel):
    job_id: str
    metric: str
    unit: str
    aggregate: Literal["mean", "last"]
    step_seconds: int
    start: UTCDateTime
    end: UTCDateTime
    series: list[SeriesLine]


# --- machines, health, pipeline ----------------------------------------------------------

class MachineSummary(BaseModel):
    machine: str
    completed_jobs: int
    total_bytes: int
    last_completed_at: UTCDateTime | None


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


class PipelinePublic(BaseModel):
    fresh: bool
    reason: str
    last_reconcile_at: UTCDateTime | None
    newest_point_at: UTCDateTime | None
    reconciler_id: str | None
    reconcile_age_seconds: float | None
    newest_point_age_seconds: float | None
    freshness_seconds: float
    stalled_after_seconds: int
    failed_after_seconds: int
    auto_register: bool
    unknown_jobs_ignored: int
    late_points_ignored: int = Field(description="points and legacy posts for jobs that had already ended")
    invalid_job_ids_ignored: int = Field(description="job ids seen in telemetry that break the id rule")
    conflicting_sender_points_ignored: int = Field(
        default=0, description="observations of a job from a process other than its sender, refused")
    pipeline_alert_firing_since: str | None
    auth_failures: int = Field(default=0, description="failed authentications seen by this replica since it started")
    auth_refused: int = Field(default=0, description="requests refused with 429 by this replica (too many failures)")


# --- nodes ----------------------------------------------------------------------------------

_MIB_MAX = 2**40  # 1 EiB in MiB
_GIB_MAX = 2**30  # 1 EiB in GiB


class NodeFields(JsonBody):
    """The seed node daemon's snapshot fields (``memory_*_mb`` in MiB, ``disk_*_gb`` in GiB,
    ``network_*_rate_mbps`` in MiB/s). The bounds keep every value, once converted to the
    host-metric unit (bytes), inside InfluxDB's 64-bit fields."""

    model_config = ConfigDict(allow_inf_nan=False)
    cpu_percent: float | None = Field(default=None, ge=0, le=100)
    memory_percent: float | None = Field(default=None, ge=0, le=100)
    memory_used_mb: float | None = Field(default=None, ge=0, le=_MIB_MAX)
    memory_total_mb: float | None = Field(default=None, ge=0, le=_MIB_MAX)
    disk_percent: float | None = Field(default=None, ge=0, le=100)
    disk_used_gb: float | None = Field(default=None, ge=0, le=_GIB_MAX)
    disk_total_gb: float | None = Field(default=None, ge=0, le=_GIB_MAX)
    network_rx_bytes: int | None = Field(default=None, ge=0, le=COUNT_MAX)
    network_tx_bytes: int | None = Field(default=None, ge=0, le=COUNT_MAX)
    network_rx_rate_mbps: float | None = Field(default=None, ge=0, le=_MIB_MAX)
    network_tx_rate_mbps: float | None = Field(default=None, ge=0, le=_MIB_MAX)
    uptime_seconds: int | None = Field(default=None, ge=0, le=COUNT_MAX)
    process_count: int | None = Field(default=None, ge=0, le=2**31 - 1)
    active_connections: int | None = Field(default=None, ge=0, le=2**31 - 1)
    load_avg_1m: float | None = Field(default=None, ge=0, le=1e9)
    load_avg_5m: float | None = Field(default=None, ge=0, le=1e9)
    load_avg_15m: float | None = Field(default=None, ge=0, le=1e9)

    def to_snapshot(self) -> NodeSnapshot:
        return NodeSnapshot(**{f: getattr(self, f) for f in SNAPSHOT_FIELDS})


assert tuple(NodeFields.model_fields) == SNAPSHOT_FIELDS


# The same fields without the input bounds: what the hub answers was measured (the collector's
# host metrics can exceed what a snapshot POST may claim), and is never refused on the way out.
NodeValues = create_model(
    "NodeValues", __doc__=NodeFields.__doc__,
    **{name: (field.annotation, None) for name, field in NodeFields.model_fields.items()},
)


class NodePublic(NodeValues):
    node_id: str
    last_seen_at: UTCDateTime
    last_seen_age_seconds: float
    updated_at: UTCDateTime

    @classmethod
    def of(cls, node: StoredNode, now: datetime) -> NodePublic:
        return cls(node_id=node.state.node_id, last_seen_at=node.state.last_seen_at,
                   last_seen_age_seconds=round((now - node.state.last_seen_at).total_seconds(), 3),
                   updated_at=node.updated_at, **dataclasses.asdict(node.state.snapshot))


class NodeSeriesPublic(BaseModel):
    node_id: str
    metric: str
    unit: str
    step_seconds: int
    start: UTCDateTime
    end: UTCDateTime
    points: list[SeriesPoint]


class NodesPublic(BaseModel):
    data: list[NodePublic]
    count: int


class LegacySnapshot(NodeFields):
    """The seed node daemon's "API POST format". Unknown keys are ignored."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    node_id: str = Field(min_length=1, max_length=ID_MAX, json_schema_extra={"pattern": ID_PATTERN})
    timestamp: DateTimeIn | None = None

    @field_validator("node_id")
    @classmethod
    def _addressable(cls, value: str) -> str:
        problem = node_id_problem(value)
        if problem:
            raise ValueError(problem)
        return value


# --- legacy senders ------------------------------------------------------------------------

class LegacyDisk(JsonBody):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    disk_index: int = Field(ge=0, le=4095)
    bytes_transferred: int | None = Field(default=None, ge=0, le=COUNT_MAX)
    total_bytes: int | None = Field(default=None, ge=0, le=COUNT_MAX)
    status: DiskStatusName | None = None
    progress_percent: float | None = Field(default=None, ge=0, le=100)


class LegacyTelemetry(JsonBody):
    """The seeds' telemetry payload (job + per-disk fields). Unknown keys are ignored so
    newer senders keep working."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    job_id: str | None = Field(default=None, max_length=191)
    job_type: JobTypeName | None = None
    status: Literal["pending", "running", "completed", "failed", "cancelled"] | None = None
    current_phase: str | None = Field(default=None, max_length=32)
    bytes_transferred: int | None = Field(default=None, ge=0, le=COUNT_MAX)
    total_bytes: int | None = Field(default=None, ge=0, le=COUNT_MAX)
    transfer_speed_bps: int | None = Field(default=None, ge=0, le=COUNT_MAX)
    eta_seconds: int | None = Field(default=None, ge=0, le=2**31 - 1)
    progress_percent: float | None = Field(default=None, ge=0, le=100)
    disks: list[LegacyDisk] = Field(default_factory=list, max_length=256)
    error: str | None = Field(default=None, max_length=4000)
    deadline: DeadlineIn | None = None
    timestamp: DateTimeIn | None = None


# --- browser sessions -------------------------------------------------------------------------

class SessionCreate(JsonBody):
    model_config = ConfigDict(extra="forbid")
    token: SecretStr = Field(min_length=1, max_length=4096, description="a read (or write) token")


class SessionPublic(BaseModel):
    expires_at: UTCDateTime


# --- Grafana webhook -------------------------------------------------------------------------

class GrafanaAlert(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: DateTimeIn | None = None
    endsAt: DateTimeIn | None = None
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
    action: Literal["stalled", "failed", "late", "slow", "pipeline_down", "pipeline_up", "none"]
    applied: bool
    reason: str


class WebhookResult(BaseModel):
    received: int
    applied: int
    refused: int
    ignored: int
    pipeline_fresh: bool
    outcomes: list[AlertOutcome]
