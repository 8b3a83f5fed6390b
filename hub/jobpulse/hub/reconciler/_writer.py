"""MySQL/SQLite reads and batched writes of job state.

Writes are upserts in batches (multi-row ``INSERT ... ON DUPLICATE KEY UPDATE`` on
MySQL, ``INSERT ... ON CONFLICT DO UPDATE`` on SQLite), one transaction per call site,
and only for rows whose values changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from jobpulse.hub.models import (
    PIPELINE_ROW_ID,
    disks_table,
    jobs_table,
    pipeline_table,
    settings_table,
)

from ._state import TERMINAL, DiskState, JobState

_CHUNK = 500

_JOB_COLUMNS = (
    "job_type", "machine", "status", "current_phase", "bytes_transferred", "total_bytes",
    "transfer_speed_bps", "eta_seconds", "progress_percent", "average_speed_bps",
    "duration_seconds", "error_message", "created_at", "started_at", "completed_at",
    "last_telemetry_at", "last_progress_at",
)
_DISK_COLUMNS = ("size_bytes", "bytes_transferred", "status", "progress_percent")


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def state_from_rows(row: Mapping, disk_rows: Iterable[Mapping]) -> JobState:
    disks = tuple(
        DiskState(
            index=d["disk_index"],
            size_bytes=d["size_bytes"] or 0,
            bytes_transferred=d["bytes_transferred"] or 0,
            status=d["status"],
            progress_percent=round(float(d["progress_percent"] or 0), 2),
        )
        for d in sorted(disk_rows, key=lambda d: d["disk_index"])
    )
    return JobState(
        id=row["id"],
        job_type=row["job_type"],
        machine=row["machine"],
        status=row["status"],
        current_phase=row["current_phase"],
        bytes_transferred=row["bytes_transferred"] or 0,
        total_bytes=row["total_bytes"] or 0,
        transfer_speed_bps=row["transfer_speed_bps"] or 0,
        eta_seconds=row["eta_seconds"],
        progress_percent=round(float(row["progress_percent"] or 0), 2),
        average_speed_bps=row["average_speed_bps"],
        duration_seconds=row["duration_seconds"],
        error_message=row["error_message"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        last_telemetry_at=row["last_telemetry_at"],
        last_progress_at=row["last_progress_at"],
        disks=disks,
    )


def load_states(
    conn: Connection, ids: Iterable[str], *, for_update: bool = False
) -> tuple[dict[str, JobState], dict[str, datetime]]:
    """States and their ``updated_at`` versions for ``ids`` (missing ids are absent)."""
    ids = list(dict.fromkeys(ids))
    rows: dict[str, Mapping] = {}
    for chunk in _chunks(ids):
        stmt = select(jobs_table).where(jobs_table.c.id.in_(chunk))
        if for_update:
            stmt = stmt.with_for_update()
        for r in conn.execute(stmt).mappings():
            rows[r["id"]] = r
    return _with_disks(conn, rows)


def load_active_states(conn: Connection) -> tuple[dict[str, JobState], dict[str, datetime]]:
    rows = {
        r["id"]: r
        for r in conn.execute(
            select(jobs_table).where(jobs_table.c.status.not_in(sorted(TERMINAL)))
        ).mappings()
    }
    return _with_disks(conn, rows)


def _with_disks(conn: Connection, rows: dict[str, Mapping]):
    disks: dict[str, list] = {}
    for chunk in _chunks(list(rows)):
        for d in conn.execute(select(disks_table).where(disks_table.c.job_id.in_(chunk))).mappings():
            disks.setdefault(d["job_id"], []).append(d)
    states = {i: state_from_rows(r, disks.get(i, ())) for i, r in rows.items()}
    versions = {i: r["updated_at"] for i, r in rows.items()}
    return states, versions


def load_versions(conn: Connection, ids: Sequence[str], *, for_update: bool) -> dict[str, datetime]:
    """Only ``updated_at`` per id, locking the rows when asked (cheap re-check before writing)."""
    out: dict[str, datetime] = {}
    for chunk in _chunks(list(ids)):
        stmt = select(jobs_table.c.id, jobs_table.c.updated_at).where(jobs_table.c.id.in_(chunk))
        if for_update:
            stmt = stmt.with_for_update()
        out.update({r.id: r.updated_at for r in conn.execute(stmt)})
    return out


def _job_params(s: JobState, now: datetime) -> dict:
    return {
        "id": s.id, "job_type": s.job_type, "machine": s.machine, "status": s.status,
        "current_phase": s.current_phase, "bytes_transferred": s.bytes_transferred,
        "total_bytes": s.total_bytes, "transfer_speed_bps": s.transfer_speed_bps,
        "eta_seconds": s.eta_seconds, "progress_percent": s.progress_percent,
        "average_speed_bps": s.average_speed_bps, "duration_seconds": s.duration_seconds,
        "error_message": s.error_message, "created_at": s.created_at or now,
        "started_at": s.started_at, "completed_at": s.completed_at,
        "last_telemetry_at": s.last_telemetry_at, "last_progress_at": s.last_progress_at,
        "updated_at": now,
    }


def _upsert(conn: Connection, table, params: list[dict], keys: tuple[str, ...], columns: tuple[str, ...]):
    if not params:
        return
    name = conn.dialect.name
    if name in ("mysql", "mariadb"):
        stmt = mysql_dialect.insert(table)
        stmt = stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in columns})
    elif name == "sqlite":
        stmt = sqlite_dialect.insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns}
        )
    else:  # pragma: no cover - only MySQL/MariaDB and SQLite are supported
        raise NotImplementedError(name)
    for chunk in _chunks(params, 1000):
        conn.execute(stmt, list(chunk))


def write_states(
    conn: Connection,
    states: Sequence[JobState],
    previous: Mapping[str, JobState | None],
    now: datetime,
) -> None:
    """Upsert ``states`` (jobs, then only the disks that differ from ``previous``).
    ``created_at`` is never overwritten on an existing row."""
    if not states:
        return
    _upsert(
        conn, jobs_table, [_job_params(s, now) for s in states], ("id",),
        tuple(c for c in _JOB_COLUMNS if c != "created_at") + ("updated_at",),
    )
    disk_params = []
    for s in states:
        before = previous.get(s.id)
        old = {d.index: d for d in before.disks} if before else {}
        for d in s.disks:
            if old.get(d.index) != d:
                disk_params.append({
                    "job_id": s.id, "disk_index": d.index, "size_bytes": d.size_bytes,
                    "bytes_transferred": d.bytes_transferred, "status": d.status,
                    "progress_percent": d.progress_percent,
                })
    _upsert(conn, disks_table, disk_params, ("job_id", "disk_index"), _DISK_COLUMNS)


def insert_job(conn: Connection, state: JobState, now: datetime) -> None:
    """Plain INSERT (registration): a duplicate id raises IntegrityError."""
    conn.execute(jobs_table.insert(), [_job_params(state, now)])
    if state.disks:
        conn.execute(
            disks_table.insert(),
            [
                {"job_id": state.id, "disk_index": d.index, "size_bytes": d.size_bytes,
                 "bytes_transferred": d.bytes_transferred, "status": d.status,
                 "progress_percent": d.progress_percent}
                for d in state.disks
            ],
        )


def read_pipeline(conn: Connection) -> Mapping | None:
    return conn.execute(
        select(pipeline_table).where(pipeline_table.c.id == PIPELINE_ROW_ID)
    ).mappings().first()


def write_pipeline(
    conn: Connection, *, reconciled_at: datetime, newest_point_at: datetime | None, reconciler_id: str
) -> None:
    values = {"last_reconcile_at": reconciled_at, "reconciler_id": reconciler_id[:64], "updated_at": reconciled_at}
    if newest_point_at is not None:
        values["newest_point_at"] = newest_point_at
    result = conn.execute(update(pipeline_table).where(pipeline_table.c.id == PIPELINE_ROW_ID).values(values))
    if result.rowcount == 0:
        conn.execute(pipeline_table.insert().values(id=PIPELINE_ROW_ID, **values))


def read_setting(conn: Connection, key: str) -> str | None:
    return conn.execute(select(settings_table.c.value).where(settings_table.c.key == key)).scalar()


def write_settings(conn: Connection, values: Mapping[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            conn.execute(settings_table.delete().where(settings_table.c.key == key))
            continue
        done = conn.execute(
            update(settings_table).where(settings_table.c.key == key).values(value=value[:255])
        ).rowcount
        if not done:
            conn.execute(settings_table.insert().values(key=key, value=value[:255]))


