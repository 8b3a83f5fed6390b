"""InfluxDB line protocol written exactly as the collector's influxdb exporter writes it.

Hub tests and the hub benchmark feed InfluxDB directly, without agent or collector; the
points must look like the real ones: measurement = metric name; tags = resource attributes,
scope and point attributes (sorted, escaped); field ``counter``/``gauge``, counters with
``start_time_unix_nano``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from jobpulse import semconv as sc


def _esc_tag(value: str) -> str:
    # InfluxDB 1.x keeps a backslash that precedes no special character as it is.
    return value.replace(",", r"\,").replace("=", r"\=").replace(" ", r"\ ")


def _esc_measurement(value: str) -> str:
    return value.replace(",", r"\,").replace(" ", r"\ ")


@dataclass
class DiskPoint:
    transferred: int
    total: int
    status: sc.DiskStatus = sc.DiskStatus.TRANSFERRING


@dataclass
class JobPoint:
    """Every metric of one export of one job at time ``t`` (naive UTC)."""

    job_id: str
    t: datetime
    status: sc.Status = sc.Status.RUNNING
    phase: sc.Phase = sc.Phase.TRANSFERRING
    transferred: int = 0
    total: int = 0
    speed: float = 0.0
    eta: float | None = None
    duration: float = 10.0
    last_progress: float | None = None
    job_type: str = "backup"
    machine: str = "vm-1"
    error: str | None = None
    disks: list[DiskPoint] = field(default_factory=list)

    def lines(self) -> list[str]:
        ns = (self.t - datetime(1970, 1, 1)) // timedelta(microseconds=1) * 1000
        start_ns = ns - int(self.duration * 1e9)
        base = {
            "service.name": "jobpulse-agent",
            "telemetry.sdk.language": "python",
            "telemetry.sdk.name": "opentelemetry",
            "telemetry.sdk.version": "1.27.0",
            sc.TAG_SCOPE_NAME: sc.SCOPE_NAME,
            sc.TAG_SCOPE_VERSION: "0.1.0",
            sc.ATTR_JOB_ID: self.job_id,
            sc.ATTR_JOB_TYPE: self.job_type,
            sc.ATTR_MACHINE: self.machine,
        }
        progress = self.transferred * 100.0 / self.total if self.total else 0.0
        values = {
            sc.JOB_TRANSFERRED: self.transferred, sc.JOB_TOTAL: self.total,
            sc.JOB_PROGRESS: progress, sc.JOB_SPEED: self.speed, sc.JOB_ETA: self.eta,
            sc.JOB_PHASE: int(self.phase), sc.JOB_STATUS: int(self.status),
            sc.JOB_LAST_PROGRESS: self.last_progress if self.last_progress is not None
            else self.t.replace(tzinfo=UTC).timestamp(),
            sc.JOB_DURATION: self.duration,
            sc.JOB_AVERAGE_SPEED: self.transferred / self.duration if self.duration else 0.0,
        }
        out = [_line(spec, base, v, ns, start_ns) for spec, v in values.items() if v is not None]
        if self.error is not None:
            out.append(_line(sc.JOB_ERROR, base | {sc.ATTR_ERROR_MESSAGE: self.error}, 1, ns, start_ns))
        for i, d in enumerate(self.disks):
            tags = base | {sc.ATTR_DISK_INDEX: str(i)}
            out.append(_line(sc.DISK_TRANSFERRED, tags, d.transferred, ns, start_ns))
            out.append(_line(sc.DISK_TOTAL, tags, d.total, ns, start_ns))
            out.append(_line(sc.DISK_STATUS, tags, int(d.status), ns, start_ns))
        return out


def _line(spec: sc.MetricSpec, tags: dict, value, ns: int, start_ns: int) -> str:
    tag_part = ",".join(f"{_esc_tag(k)}={_esc_tag(v)}" for k, v in sorted(tags.items()))
    fields = f"{spec.field}={float(value)!r}"
    if spec.field == sc.FIELD_COUNTER:
        fields += f",start_time_unix_nano={start_ns}i"
    return f"{_esc_measurement(spec.name)},{tag_part} {fields} {ns}"
