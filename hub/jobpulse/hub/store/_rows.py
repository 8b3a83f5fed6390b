"""Job state <-> rows of ``jobs`` and ``job_disks``, and the batched statements that read
and write them. Both mappings come from the one field list (``state.JOB_FIELDS``), so a
column, the in-memory state and the upsert parameters cannot drift apart.

Writes are upserts in batches (multi-row ``INSERT ... ON DUPLICATE KEY UPDATE`` on
MySQL, ``INSERT ... ON CONFLICT DO UPDATE`` on SQLite), only for rows whose values changed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, DateTime, Select, String, bindparam, cast, func, select, update
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from jobpulse.hub.models import (
    PIPELINE_ROW_ID,
    disks_table,
    job_counts_table,
    jobs_table,
    nodes_table,
    pipeline_table,
    settings_table,
)
from jobpulse.hub.state import (
    COMPLETED,
    DISK_FIELDS,
    JOB_FIELDS,
    SNAPSHOT_FIELDS,
    TERMINAL,
    DiskState,
    JobState,
    NodeSnapshot,
    NodeState,
)

_CHUNK = 500
VERSION = "updated_at"
# An upsert never rewrites when a job was first seen.
_JOB_UPDATED = tuple(c for c in JOB_FIELDS if c not in ("id", "created_at")) + (VERSION,)
_DISK_UPDATED = tuple(c for c in DISK_FIELDS if c != "disk_index")

Versions = dict[str, datetime]


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _percent(value) -> float:
    # DECIMAL(5,2) on MySQL, REAL on SQLite: round so both compare equal to the state's value.
    return round(float(value or 0), 2)


def disk_from_row(row: Mapping) -> DiskState:
    return DiskState(**{f: row[f] for f in DISK_FIELDS} | {"progress_percent": _percent(row["progress_percent"])})


def state_from_rows(row: Mapping, disk_rows: Iterable[Mapping]) -> JobState:
    disks = tuple(disk_from_row(d) for d in sorted(disk_rows, key=lambda d: d["disk_index"]))
    return JobState(
        **{f: row[f] for f in JOB_FIELDS} | {"progress_percent": _percent(row["progress_percent"])},
        disks=disks,
    )


def _job_params(s: JobState, now: datetime) -> dict:
    params = {f: getattr(s, f) for f in JOB_FIELDS}
    params["created_at"] = s.created_at or now
    params[VERSION] = now
    return params


def _disk_params(job_id: str, d: DiskState) -> dict:
    return {f: getattr(d, f) for f in DISK_FIELDS} | {"job_id": job_id}


def _with_disks(conn: Connection, rows: dict[str, Mapping]) -> tuple[dict[str, JobState], Versions]:
    disks: dict[str, list] = {}
    for chunk in _chunks(list(rows)):
        for d in conn.execute(select(disks_table).where(disks_table.c.job_id.in_(chunk))).mappings():
            disks.setdefault(d["job_id"], []).append(d)
    states = {i: state_from_rows(r, disks.get(i, ())) for i, r in rows.items()}
    return states, {i: r[VERSION] for i, r in rows.items()}


def load_states(conn: Connection, ids: Iterable[str], *, for_update: bool = False) -> tuple[dict[str, JobState], Versions]:
    """States and their versions for ``ids`` (missing ids are absent)."""
    rows: dict[str, Mapping] = {}
    for chunk in _chunks(list(dict.fromkeys(ids))):
        stmt = select(jobs_table).where(jobs_table.c.id.in_(chunk))
        if for_update:
            stmt = stmt.with_for_update()
        rows.update((r["id"], r) for r in conn.execute(stmt).mappings())
    return _with_disks(conn, rows)


def load_active_states(conn: Connection) -> tuple[dict[str, JobState], Versions]:
    stmt = select(jobs_table).where(jobs_table.c.status.not_in(sorted(TERMINAL)))
    return _with_disks(conn, {r["id"]: r for r in conn.execute(stmt).mappings()})


def load_versions(conn: Connection, ids: Sequence[str], *, for_update: bool) -> Versions:
    """Only the version per id, locking the rows when asked (cheap re-check before writing)."""
    out: Versions = {}
    for chunk in _chunks(list(ids)):
        stmt = select(jobs_table.c.id, jobs_table.c[VERSION]).where(jobs_table.c.id.in_(chunk))
        if for_update:
            stmt = stmt.with_for_update()
        out.update({r[0]: r[1] for r in conn.execute(stmt)})
    return out


def load_recent_speeds(conn: Connection, machines: Sequence[str], jobs: int) -> Iterable[tuple[str, str, int]]:
    """(machine, job_type, average_speed_bps) of the newest ``jobs`` completed jobs of each
    (machine, job type) of ``machines``, from the (machine, job_type, status, completed_at) index."""
    t = jobs_table.c
    for chunk in _chunks(list(machines)):
        newest = func.row_number().over(partition_by=(t.machine, t.job_type),
                                        order_by=(t.completed_at.desc(), t.id.desc())).label("n")
        ranked = (select(t.machine, t.job_type, t.average_speed_bps, newest)
                  .where(t.machine.in_(chunk), t.status == COMPLETED, t.average_speed_bps > 0)
                  .subquery("ranked"))
        stmt = select(ranked.c.machine, ranked.c.job_type, ranked.c.average_speed_bps).where(ranked.c.n <= jobs)
        yield from ((r[0], r[1], int(r[2])) for r in conn.execute(stmt))


def newest_change(conn: Connection) -> tuple[datetime, str] | None:
    t = jobs_table.c
    row = conn.execute(select(t[VERSION], t.id).order_by(t[VERSION].desc(), t.id.desc()).limit(1)).first()
    return (row[0], row[1]) if row else None


def changed_ids(conn: Connection, after: tuple[datetime, str] | None, limit: int) -> list[str]:
    """Ids of the rows written after ``after`` ((updated_at, id)), in that order, from the
    (updated_at, id) index."""
    t = jobs_table.c
    stmt = select(t.id).order_by(t[VERSION], t.id).limit(limit)
    if after is not None:
        stmt = stmt.where((t[VERSION] > after[0]) | ((t[VERSION] == after[0]) & (t.id > after[1])))
    return [r[0] for r in conn.execute(stmt)]


# --- the job list's page -----------------------------------------------------------------

# A page row's values, in this order (the jobs table's own column order), then the count.
PAGE_COLUMNS = JOB_FIELDS + (VERSION,)
# ... its times as the database writes them out, "YYYY-MM-DD HH:MM:SS[.ffffff]" (MySQL's
# DATETIME(6), SQLAlchemy's SQLite format): PyMySQL's parse of a DATETIME costs 3 us, a page
# of finished jobs has 600 of them, and the list only turns each back into text.
PAGE_TIMES = tuple(c for c in PAGE_COLUMNS if isinstance(jobs_table.c[c].type, DateTime))

# How a row matches each filter of the list (JobFilter's fields), its value bound by that name.
_MATCHES = {
    "status": lambda t: t.status == bindparam("status"),
    "job_type": lambda t: t.job_type == bindparam("job_type"),
    "machine": lambda t: t.machine == bindparam("machine"),
    "created_after": lambda t: t.created_at >= bindparam("created_after"),
    "created_before": lambda t: t.created_at < bindparam("created_before"),
}
PAGE_FILTERS = tuple(_MATCHES)


def _matching(filters: tuple[str, ...]) -> list[ColumnElement[bool]]:
    return [_MATCHES[name](jobs_table.c) for name in filters]


# Built once per combination of filters, every value a bound parameter: building the
# statement cost the list more CPU than SQLAlchemy's execution of it (0.6 ms a request).
@functools.lru_cache(maxsize=2 ** len(_MATCHES))
def page_statement(filters: tuple[str, ...]) -> Select:
    """One page (bound ``skip``, ``limit``) of the jobs matching ``filters``, newest first: each
    row's id and version (``updated_at`` as text), then the count of every match, in one round
    trip. The page's ids come from the (created_at, id) index alone and only those rows are
    looked up: asked for whole rows with ORDER BY ... LIMIT, MariaDB 10.11 scans and sorts the
    entire table instead (8 ms of the server's time at 10 000 jobs, 25 ms at skip=9000)."""
    t = jobs_table.c
    conds = _matching(filters)
    page = (select(t.id, t.created_at).where(*conds).order_by(t.created_at.desc(), t.id.desc())
            .offset(bindparam("skip")).limit(bindparam("limit")).subquery("page"))
    total = count_statement(filters).correlate(None).scalar_subquery()
    j = jobs_table.alias("j")
    return (select(j.c.id, cast(j.c[VERSION], String), total.label("total"))
            .join_from(j, page, j.c.id == page.c.id)
            .order_by(page.c.created_at.desc(), page.c.id.desc()))


_ROWS_STATEMENT = select(*(cast(jobs_table.c[c], String) if c in PAGE_TIMES else jobs_table.c[c]
                           for c in PAGE_COLUMNS)).where(jobs_table.c.id.in_(bindparam("ids", expanding=True)))


# The filters job_counts answers: none (every job) or one status.
_COUNTED = frozenset({"status"})


@functools.lru_cache(maxsize=2 ** len(_MATCHES))
def count_statement(filters: tuple[str, ...]) -> Select:
    """The number of jobs matching ``filters``: from job_counts when it holds that figure (no
    filter, or a status), else a COUNT(*) of the matching rows."""
    if set(filters) <= _COUNTED:
        c = job_counts_table.c
        conds = [c.status == bindparam("status")] if filters else []
        return select(func.coalesce(func.sum(c.n), 0)).where(*conds)
    return select(func.count()).select_from(jobs_table).where(*_matching(filters))


_PAGE_PERCENT = PAGE_COLUMNS.index("progress_percent")
_DISK_PERCENT = DISK_FIELDS.index("progress_percent")


def _with_percent(values: Sequence, index: int) -> tuple:
    out = list(values)
    out[index] = _percent(out[index])
    return tuple(out)


def load_page(conn: Connection, filters: tuple[str, ...], params: Mapping) -> list[tuple]:
    """The rows of ``page_statement``: (id, version, count of every match)."""
    return [tuple(r) for r in conn.execute(page_statement(filters), params)]


def load_page_rows(conn: Connection, ids: Sequence[str]) -> list[tuple]:
    """The PAGE_COLUMNS values of the jobs ``ids`` (any order), percentages as a JobState holds
    them; a job deleted since its id was read is missing."""
    return [_with_percent(r, _PAGE_PERCENT) for r in conn.execute(_ROWS_STATEMENT, {"ids": list(ids)})]


def load_page_disks(conn: Connection, ids: Sequence[str]) -> dict[str, list[tuple]]:
    """DISK_FIELDS values of each job's disks, by disk_index (a page is at most one chunk)."""
    d = disks_table.c
    stmt = (select(d.job_id, *(d[f] for f in DISK_FIELDS)).where(d.job_id.in_(ids))
            .order_by(d.job_id, d.disk_index))
    out: dict[str, list[tuple]] = {}
    for row in conn.execute(stmt):
        out.setdefault(row[0], []).append(_with_percent(row[1:], _DISK_PERCENT))
    return out


def _upsert(conn: Connection, table, params: list[dict], keys: tuple[str, ...], columns: tuple[str, ...]) -> None:
    if not params:
        return
    name = conn.dialect.name
    if name in ("mysql", "mariadb"):
        stmt = mysql_dialect.insert(table)
        stmt = stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in columns})
    elif name == "sqlite":
        stmt = sqlite_dialect.insert(table)
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns})
    else:  # pragma: no cover - only MySQL/MariaDB and SQLite are supported
        raise NotImplementedError(name)
    for chunk in _chunks(params, 1000):
        conn.execute(stmt, list(chunk))


def write_states(conn: Connection, states: Sequence[JobState], previous: Mapping[str, JobState | None],
                 now: datetime) -> None:
    """Upsert ``states`` (jobs, then only the disks that differ from ``previous``, then the
    counts of the statuses that changed). ``previous`` must be the rows as they are, locked (a job
    absent from it or None is new)."""
    if not states:
        return
    _upsert(conn, jobs_table, [_job_params(s, now) for s in states], ("id",), _JOB_UPDATED)
    disk_params = []
    moves: dict[str, int] = {}
    for s in states:
        before = previous.get(s.id)
        old = {d.disk_index: d for d in before.disks} if before else {}
        disk_params += [_disk_params(s.id, d) for d in s.disks if old.get(d.disk_index) != d]
        if before is None or before.status != s.status:
            moves[s.status] = moves.get(s.status, 0) + 1
            if before is not None:
                moves[before.status] = moves.get(before.status, 0) - 1
    _upsert(conn, disks_table, disk_params, ("job_id", "disk_index"), _DISK_UPDATED)
    _count_moves(conn, moves)


def insert_job(conn: Connection, state: JobState, now: datetime) -> None:
    """Plain INSERT (registration): a duplicate id raises IntegrityError."""
    conn.execute(jobs_table.insert(), [_job_params(state, now)])
    if state.disks:
        conn.execute(disks_table.insert(), [_disk_params(state.id, d) for d in state.disks])
    _count_moves(conn, {state.status: 1})


def _count_moves(conn: Connection, moves: Mapping[str, int]) -> None:
    # Last in its transaction and in status order: the count rows are every writer's, so they
    # are locked for the shortest time, and always in one order (no deadlock between writers).
    c = job_counts_table.c
    for status in sorted(moves):
        if not moves[status]:
            continue
        done = conn.execute(update(job_counts_table).where(c.status == status)
                            .values(n=c.n + moves[status])).rowcount
        if not done:  # a status no migration knew of
            conn.execute(job_counts_table.insert().values(status=status, n=moves[status]))


def recount_jobs(conn: Connection) -> dict[str, tuple[int, int]]:
    """Set job_counts to a count of the rows: {status: (held, counted)} of those that were wrong
    (a writer outside the hub, or a database restored from a backup of another time). The count
    rows are locked first, so every writer that changed them has committed before the rows are
    counted and every later one adds to the corrected figures."""
    c = job_counts_table.c
    held = dict(conn.execute(select(c.status, c.n).with_for_update()).all())
    counted = dict(conn.execute(select(jobs_table.c.status, func.count()).group_by(jobs_table.c.status)).all())
    wrong = {s: (held.get(s, 0), counted.get(s, 0)) for s in sorted(set(held) | set(counted))
             if held.get(s, 0) != counted.get(s, 0)}
    for status, (_, n) in wrong.items():
        if status in held:
            conn.execute(update(job_counts_table).where(c.status == status).values(n=n))
        else:
            conn.execute(job_counts_table.insert().values(status=status, n=n))
    return wrong


def read_pipeline(conn: Connection) -> Mapping | None:
    return conn.execute(select(pipeline_table).where(pipeline_table.c.id == PIPELINE_ROW_ID)).mappings().first()


def write_pipeline(conn: Connection, *, reconciled_at: datetime, newest_point_at: datetime | None,
                   reconciler_id: str) -> None:
    values = {"last_reconcile_at": reconciled_at, "reconciler_id": reconciler_id[:64], "updated_at": reconciled_at}
    if newest_point_at is not None:
        values["newest_point_at"] = newest_point_at
    result = conn.execute(update(pipeline_table).where(pipeline_table.c.id == PIPELINE_ROW_ID).values(values))
    if result.rowcount == 0:
        conn.execute(pipeline_table.insert().values(id=PIPELINE_ROW_ID, **values))


def read_settings(conn: Connection) -> dict[str, str]:
    return dict(conn.execute(select(settings_table.c.key, settings_table.c.value)).all())


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


def add_to_counters(conn: Connection, increments: Mapping[str, int]) -> None:
    """Add to counters kept in ``settings``: the row is locked, so replicas adding at once
    never lose a count."""
    for key, n in increments.items():
        if not n:
            continue
        row = conn.execute(
            select(settings_table.c.value).where(settings_table.c.key == key).with_for_update()
        ).first()
        try:
            current = int(row[0]) if row else 0
        except ValueError:
            current = 0
        write_settings(conn, {key: str(current + n)})


def read_counter(values: Mapping[str, str], key: str) -> int:
    try:
        return int(values.get(key) or 0)
    except ValueError:
        return 0


# --- nodes ------------------------------------------------------------------------------

_NODE_UPDATED = SNAPSHOT_FIELDS + ("last_seen_at", VERSION)


def node_from_row(row: Mapping) -> NodeState:
    return NodeState(row["node_id"], row["last_seen_at"], NodeSnapshot(**{f: row[f] for f in SNAPSHOT_FIELDS}))


def load_nodes(conn: Connection, ids: Iterable[str] | None = None, *, for_update: bool = False
               ) -> tuple[dict[str, NodeState], Versions]:
    """Nodes by id (every node when ``ids`` is None) and their versions."""
    stmts = [select(nodes_table).order_by(nodes_table.c.node_id)] if ids is None else [
        select(nodes_table).where(nodes_table.c.node_id.in_(chunk)) for chunk in _chunks(list(dict.fromkeys(ids)))]
    states: dict[str, NodeState] = {}
    versions: Versions = {}
    for stmt in stmts:
        if for_update:
            stmt = stmt.with_for_update()
        for r in conn.execute(stmt).mappings():
            states[r["node_id"]] = node_from_row(r)
            versions[r["node_id"]] = r[VERSION]
    return states, versions


def write_nodes(conn: Connection, nodes: Sequence[NodeState], now: datetime) -> None:
    params = [{"node_id": n.node_id, "last_seen_at": n.last_seen_at, VERSION: now}
              | {f: getattr(n.snapshot, f) for f in SNAPSHOT_FIELDS} for n in nodes]
    _upsert(conn, nodes_table, params, ("node_id",), _NODE_UPDATED)
