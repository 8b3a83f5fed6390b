"""Database operations behind the routes. SQL only through SQLAlchemy expressions with
bound parameters; read-modify-write of a job goes through the same state rules and
writer as the reconciler."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jobpulse.hub import errors
from jobpulse.hub.core.config import Settings
from jobpulse.hub.core.db import write_guard
from jobpulse.hub.models import (
    SETTING_FAILED_AFTER,
    SETTING_PIPELINE_ALERT,
    SETTING_PIPELINE_FRESH,
    SETTING_STALLED_AFTER,
    SETTING_STUCK_AFTER,
    SETTING_UNKNOWN_JOBS,
    disks_table,
    jobs_table,
    settings_table,
)
from jobpulse.hub.reconciler import _writer
from jobpulse.hub.reconciler._state import (
    COMPLETED,
    DiskState,
    JobState,
    Observation,
    StaleDecision,
    apply_observation,
    mark_stale,
    utcnow,
)
from jobpulse.hub.schemas import JobCreate

_JOB_FIELDS = tuple(c.name for c in jobs_table.columns)
_DISK_FIELDS = ("disk_index", "size_bytes", "bytes_transferred", "status", "progress_percent")


def _job_dict(row, disks: Sequence = ()) -> dict:
    out = {k: row[k] for k in _JOB_FIELDS}
    out["progress_percent"] = float(out["progress_percent"] or 0)
    out["disks"] = [
        {k: d[k] for k in _DISK_FIELDS} | {"progress_percent": float(d["progress_percent"] or 0)}
        for d in disks
    ]
    return out


def register_job(engine: Engine, body: JobCreate) -> dict:
    now = utcnow()
    disks = tuple(
        DiskState(index=d.disk_index, size_bytes=d.size_bytes)
        for d in sorted(body.disks, key=lambda d: d.disk_index)
    )
    total = body.total_bytes if body.total_bytes is not None else sum(d.size_bytes for d in disks)
    state = JobState(
        id=body.id, job_type=body.job_type, machine=body.machine, total_bytes=total,
        created_at=now, disks=disks,
    )
    try:
        with write_guard(engine), engine.begin() as conn:
            _writer.insert_job(conn, state, now)
    except IntegrityError as err:
        raise errors.Conflict(f"job {body.id!r} is already registered") from err
    with engine.connect() as conn:
        job = get_job(conn, body.id)
    assert job is not None
    return job


def get_job(conn, job_id: str) -> dict | None:
    row = conn.execute(select(jobs_table).where(jobs_table.c.id == job_id)).mappings().first()
    if row is None:
        return None
    disks = conn.execute(
        select(disks_table).where(disks_table.c.job_id == job_id).order_by(disks_table.c.disk_index)
    ).mappings().all()
    return _job_dict(row, disks)


def job_version(conn, job_id: str) -> datetime | None:
    return conn.execute(select(jobs_table.c.updated_at).where(jobs_table.c.id == job_id)).scalar()


@dataclass(frozen=True)
class JobFilter:
    status: str | None = None
    job_type: str | None = None
    machine: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


def list_jobs(session: Session, f: JobFilter, skip: int, limit: int, include_disks: bool) -> tuple[list[dict], int]:
    conds = []
    if f.status is not None:
        conds.append(jobs_table.c.status == f.status)
    if f.job_type is not None:
        conds.append(jobs_table.c.job_type == f.job_type)
    if f.machine is not None:
        conds.append(jobs_table.c.machine == f.machine)
    if f.created_after is not None:
        conds.append(jobs_table.c.created_at >= f.created_after)
    if f.created_before is not None:
        conds.append(jobs_table.c.created_at < f.created_before)
    count = session.execute(select(func.count()).select_from(jobs_table).where(*conds)).scalar_one()
    rows = session.execute(
        select(jobs_table).where(*conds)
        .order_by(jobs_table.c.created_at.desc(), jobs_table.c.id.desc())
        .offset(skip).limit(limit)
    ).mappings().all()
    disks: dict[str, list] = {}
    if include_disks and rows:
        for d in session.execute(
            select(disks_table).where(disks_table.c.job_id.in_([r["id"] for r in rows]))
            .order_by(disks_table.c.job_id, disks_table.c.disk_index)
        ).mappings():
            disks.setdefault(d["job_id"], []).append(d)
    return [_job_dict(r, disks.get(r["id"], ())) for r in rows], count


def apply_legacy(engine: Engine, job_type: str, job_id: str, obs: Observation) -> JobState:
    """One legacy telemetry post: the same rules and writer as a reconcile cycle."""
    with write_guard(engine), engine.begin() as conn:
        states, _ = _writer.load_states(conn, [job_id], for_update=True)
        base = states.get(job_id)
        if base is None or base.job_type != job_type:
            raise errors.NotFound(f"no {job_type} job {job_id!r}")
        new = apply_observation(base, obs)
        if new != base:
            _writer.write_states(conn, [new], {job_id: base}, utcnow())
        return new


def apply_stale(engine: Engine, job_id: str, target: str, threshold: float) -> StaleDecision | None:
    """A stale alert for ``job_id``; None when the job is unknown."""
    with write_guard(engine), engine.begin() as conn:
        states, _ = _writer.load_states(conn, [job_id], for_update=True)
        base = states.get(job_id)
        if base is None:
            return None
        decision = mark_stale(base, target, utcnow(), threshold)
        if decision.applied:
            _writer.write_states(conn, [decision.state], {job_id: base}, utcnow())
        return decision


def machines_summary(session: Session, job_type: str) -> list[dict]:
    rows = session.execute(
        select(
            jobs_table.c.machine,
            func.count().label("completed_jobs"),
            func.coalesce(func.sum(jobs_table.c.bytes_transferred), 0).label("total_bytes"),
            func.max(jobs_table.c.completed_at).label("last_completed_at"),
        )
        .where(jobs_table.c.status == COMPLETED, jobs_table.c.job_type == job_type)
        .group_by(jobs_table.c.machine)
        .order_by(jobs_table.c.machine)
    ).mappings().all()
    return [dict(r) | {"total_bytes": int(r["total_bytes"] or 0)} for r in rows]


def write_thresholds(engine: Engine, settings: Settings) -> None:
    """Publish the thresholds so SQL alert rules read the hub's configuration."""
    with write_guard(engine), engine.begin() as conn:
        _writer.write_settings(conn, {
            SETTING_STALLED_AFTER: str(settings.stalled_after),
            SETTING_FAILED_AFTER: str(settings.failed_after),
            SETTING_STUCK_AFTER: str(settings.stuck_after),
            SETTING_PIPELINE_FRESH: str(settings.freshness_seconds),
        })


def set_pipeline_alert(engine: Engine, since: str | None) -> None:
    with write_guard(engine), engine.begin() as conn:
        _writer.write_settings(conn, {SETTING_PIPELINE_ALERT: since})


@dataclass(frozen=True)
class PipelineStatus:
    fresh: bool
    reason: str
    row: dict
    unknown_jobs: int
    alert_since: str | None
    now: datetime


def pipeline_status(conn, settings: Settings) -> PipelineStatus:
    now = utcnow()
    row = dict(_writer.read_pipeline(conn) or {})
    values = dict(conn.execute(select(settings_table.c.key, settings_table.c.value)).all())
    alert_since = values.get(SETTING_PIPELINE_ALERT)
    try:
        unknown = int(values.get(SETTING_UNKNOWN_JOBS) or 0)
    except ValueError:
        unknown = 0
    last = row.get("last_reconcile_at")
    if last is None:
        fresh, reason = False, "no reconcile cycle has completed yet"
    elif (now - last).total_seconds() > settings.freshness_seconds:
        fresh, reason = False, (
            f"last reconcile {(now - last).total_seconds():.0f}s ago "
            f"(limit {settings.freshness_seconds:.0f}s)"
        )
    elif alert_since:
        fresh, reason = False, f"pipeline_down alert firing since {alert_since}"
    else:
        fresh, reason = True, "ok"
    return PipelineStatus(fresh, reason, row, unknown, alert_since, now)


