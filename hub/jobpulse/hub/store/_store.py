"""``Store``: every read and write of job state in MySQL/SQLite, behind one handle.

Routes and the reconciler hold a Store, never an Engine, a Connection or a Session. Every
write goes through the state rules' results and ends by invalidating the job-list cache,
so no caller has to remember to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import IntegrityError

from jobpulse.hub import errors
from jobpulse.hub.core.cache import ResponseCache, VersionedCache
from jobpulse.hub.core.clock import utcnow
from jobpulse.hub.core.db import write_guard
from jobpulse.hub.models import (
    SETTING_CONFLICTING_POINTS,
    SETTING_FAILED_AFTER,
    SETTING_INVALID_JOB_IDS,
    SETTING_LATE_AFTER,
    SETTING_LATE_POINTS,
    SETTING_NODE_DOWN_AFTER,
    SETTING_PIPELINE_ALERT,
    SETTING_PIPELINE_FRESH,
    SETTING_SLOW_AFTER,
    SETTING_SLOW_RATIO,
    SETTING_STALLED_AFTER,
    SETTING_STUCK_AFTER,
    SETTING_UNKNOWN_JOBS,
    jobs_table,
)
from jobpulse.hub.state import (
    COMPLETED,
    JobState,
    NodeObservation,
    NodeState,
    Observation,
    StaleDecision,
    apply_node_observation,
    apply_observation,
    forecast,
    is_late,
    mark_stale,
    mark_warning,
    take_over,
    usual_speed,
)

from . import _rows

logger = logging.getLogger(__name__)

# Ids already logged as late, per process: one warning per job, bounded.
_LOGGED_ONCE_MAX = 10_000

# (the state before, or None for a job not yet stored; the state to write)
Change = tuple[JobState | None, JobState]


@dataclass(frozen=True)
class StoredJob:
    state: JobState
    updated_at: datetime


@dataclass(frozen=True)
class StoredNode:
    state: NodeState
    updated_at: datetime


@dataclass(frozen=True)
class JobPage:
    """One page of the job list as the database holds it (percentages rounded as in a JobState),
    for the list endpoint to serialize without a JobState per row. ``order`` is the page's
    (job id, version) pairs, newest job first, the version being ``updated_at`` as text.
    ``rows`` are only the jobs the caller did not already hold at that version, in any order:
    each holds the values of ``JOB_FIELDS``, then ``updated_at``, the ``times`` among them as
    text, "YYYY-MM-DD HH:MM:SS[.ffffff]" (naive UTC); ``disks`` maps a job id of ``rows`` to
    its disks' ``DISK_FIELDS`` values by disk_index (only when asked for)."""

    order: Sequence[tuple[str, str]]
    rows: Sequence[Sequence]
    disks: Mapping[str, Sequence[tuple]]
    count: int
    times: frozenset[str] = frozenset(_rows.PAGE_TIMES)


@dataclass(frozen=True)
class JobFilter:
    status: str | None = None
    job_type: str | None = None
    machine: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


assert tuple(vars(JobFilter())) == _rows.PAGE_FILTERS


@dataclass(frozen=True)
class PipelineStatus:
    fresh: bool
    reason: str
    last_reconcile_at: datetime | None
    newest_point_at: datetime | None
    reconciler_id: str | None
    unknown_jobs: int
    late_points: int
    invalid_job_ids: int
    conflicting_points: int
    alert_since: str | None
    now: datetime


@dataclass(frozen=True)
class Thresholds:
    """What the SQL alert rules read from the ``settings`` table."""

    stalled_after: float
    failed_after: float
    stuck_after: float
    pipeline_fresh: float
    node_down_after: float
    late_after: float = 120.0
    slow_after: float = 600.0
    slow_ratio: float = 0.5


# A job's machine and job type: whose completed jobs make its usual speed.
SpeedKey = tuple[str, str]


@dataclass(frozen=True)
class CycleCommit:
    written: list[Change]
    reloaded: dict[str, JobState]
    versions: _rows.Versions


class Store:
    def __init__(self, engine: Engine, list_cache: ResponseCache | None = None, *,
                 reader: Engine | None = None) -> None:
        self.engine = engine
        # The job list's version reads (core.db.make_reader_engine); the engine where it has none.
        self.reader = reader or engine
        self.list_cache = list_cache or ResponseCache(0)
        # The list's JSON of each job, under (job id, with disks?) and its row version.
        self.job_json = VersionedCache()
        self._late_logged: set[str] = set()

    def _changed(self) -> None:
        self.list_cache.clear()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
        if self.reader is not self.engine:
            self.reader.dispose()

    # --- jobs ----------------------------------------------------------------------

    def register(self, state: JobState) -> StoredJob:
        now = utcnow()
        try:
            with write_guard(self.engine), self.engine.begin() as conn:
                _rows.insert_job(conn, state, now)
        except IntegrityError as err:
            raise errors.Conflict(f"job {state.id!r} is already registered") from err
        self._changed()
        stored = self.get_job(state.id)
        assert stored is not None
        return stored

    def get_job(self, job_id: str) -> StoredJob | None:
        with self.engine.connect() as conn:
            states, versions = _rows.load_states(conn, [job_id])
        if job_id not in states:
            return None
        return StoredJob(states[job_id], versions[job_id])

    def job_if_changed(self, job_id: str, since: datetime | None) -> tuple[datetime | None, StoredJob | None]:
        """(version, job): the job only when its version moved past ``since``; version None
        once the job is gone."""
        with self.engine.connect() as conn:
            version = _rows.load_versions(conn, [job_id], for_update=False).get(job_id)
            if version is None or version == since:
                return version, None
            states, versions = _rows.load_states(conn, [job_id])
        if job_id not in states:
            return None, None
        return versions[job_id], StoredJob(states[job_id], versions[job_id])

    def newest_change(self) -> tuple[datetime, str] | None:
        """(updated_at, id) of the job row written last: where a live stream starts."""
        with self.engine.connect() as conn:
            return _rows.newest_change(conn)

    def changed_jobs(self, after: tuple[datetime, str] | None, limit: int) -> list[StoredJob]:
        """Jobs written after ``after`` (updated_at, id), oldest change first."""
        with self.engine.connect() as conn:
            ids = _rows.changed_ids(conn, after, limit)
            states, versions = _rows.load_states(conn, ids) if ids else ({}, {})
        return [StoredJob(states[i], versions[i]) for i in ids if i in states]

    def list_jobs(self, f: JobFilter, skip: int, limit: int, include_disks: bool,
                  held: Callable[[str, str], bool] = lambda _id, _version: False) -> JobPage:
        """One page of the jobs matching ``f``; whole rows only of the jobs for which
        ``held(job_id, version)`` is false (the caller's copy is older, or it has none)."""
        params = {name: value for name, value in vars(f).items() if value is not None}
        filters = tuple(params)
        with self.reader.connect() as conn:
            head = _rows.load_page(conn, filters, params | {"skip": skip, "limit": limit})
            if head:
                count = int(head[0][-1])  # SUM() comes back as a DECIMAL on MySQL
            else:  # past the last match (the count rides on the page's rows), or no match at all
                count = int(conn.execute(_rows.count_statement(filters), params).scalar_one()) if skip else 0
        wanted = [job_id for job_id, version, _ in head if not held(job_id, version)]
        rows, disks = [], {}
        if wanted:
            # One transaction: a job's row and its disks from one snapshot (on MySQL).
            with self.engine.connect() as conn:
                rows = _rows.load_page_rows(conn, wanted)
                disks = _rows.load_page_disks(conn, wanted) if include_disks else {}
        return JobPage([(job_id, version) for job_id, version, _ in head], rows, disks, count)

    def _read_modify_write(self, job_id: str, change: Callable[[JobState], tuple[JobState, object]]):
        """Lock one job's row, apply ``change`` to it and write the result if it differs.
        None when the job is unknown; otherwise whatever ``change`` returned beside the state."""
        with write_guard(self.engine), self.engine.begin() as conn:
            states, _ = _rows.load_states(conn, [job_id], for_update=True)
            base = states.get(job_id)
            if base is None:
                return None
            new, result = change(base)
            if new != base:
                _rows.write_states(conn, [new], {job_id: base}, utcnow())
        if new != base:
            self._changed()
        return result

    def apply_observation(self, job_type: str, job_id: str, obs: Observation, *, usual_jobs: int = 10,
                          slow_ratio: float = 0.5) -> JobState:
        """One legacy telemetry post: the same rules and writer as a reconcile cycle. A post
        after the job ended is counted as a late point and refused (Conflict)."""
        usual: dict[SpeedKey, int | None] = {}

        def change(base: JobState):
            if base.job_type != job_type:
                raise errors.NotFound(f"no {job_type} job {job_id!r}")
            key = (base.machine, base.job_type)
            if key not in usual:
                usual.update(self.usual_speeds([key], usual_jobs))
            return forecast(apply_observation(base, obs), usual[key], slow_ratio), base

        base = self._read_modify_write(job_id, change)
        if base is None:
            raise errors.NotFound(f"no {job_type} job {job_id!r}")
        if is_late(base, obs):
            if job_id not in self._late_logged and len(self._late_logged) < _LOGGED_ONCE_MAX:
                self._late_logged.add(job_id)
                logger.warning("legacy post for %s job %r ignored: its figures are frozen", base.status, job_id)
            with write_guard(self.engine), self.engine.begin() as conn:
                _rows.add_to_counters(conn, {SETTING_LATE_POINTS: 1})
            raise errors.Conflict(
                f"job {job_id!r} is {base.status}: its figures are frozen, so this post was ignored "
                "(a new run needs a new job id)"
            )
        return forecast(apply_observation(base, obs), usual.get((base.machine, base.job_type)), slow_ratio)

    def usual_speeds(self, keys: Sequence[SpeedKey], jobs: int) -> dict[SpeedKey, int | None]:
        """The usual speed of each (machine, job type): the median average speed of its newest
        ``jobs`` completed jobs (None while fewer than USUAL_MIN_JOBS are known)."""
        wanted = set(keys)
        speeds: dict[SpeedKey, list[int]] = {k: [] for k in wanted}
        with self.engine.connect() as conn:
            for machine, job_type, speed in _rows.load_recent_speeds(conn, sorted({m for m, _ in wanted}), jobs):
                if (machine, job_type) in wanted:
                    speeds[(machine, job_type)].append(speed)
        return {k: usual_speed(v) for k, v in speeds.items()}

    def take_over(self, job_id: str) -> StoredJob | None:
        """Forget the job's sender (and any conflict): the next process to report owns it."""
        if self._read_modify_write(job_id, lambda base: (take_over(base), True)) is None:
            return None
        return self.get_job(job_id)

    def apply_warning(self, job_id: str, kind: str, firing: bool, since: datetime) -> StaleDecision | None:
        """A job_late / job_slow alert for ``job_id``; None when the job is unknown."""

        def change(base: JobState):
            decision = mark_warning(base, kind, firing, since)
            return decision.state, decision

        return self._read_modify_write(job_id, change)

    def apply_stale(self, job_id: str, target: str, threshold: float) -> StaleDecision | None:
        """A stale alert for ``job_id``; None when the job is unknown."""

        def change(base: JobState):
            decision = mark_stale(base, target, utcnow(), threshold)
            return decision.state, decision

        return self._read_modify_write(job_id, change)

    def machines_summary(self, job_type: str) -> list[dict]:
        t = jobs_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    t.machine,
                    func.count().label("completed_jobs"),
                    func.coalesce(func.sum(t.bytes_transferred), 0).label("total_bytes"),
                    func.max(t.completed_at).label("last_completed_at"),
                )
                .where(t.status == COMPLETED, t.job_type == job_type)
                .group_by(t.machine)
                .order_by(t.machine)
            ).mappings().all()
        return [dict(r) | {"total_bytes": int(r["total_bytes"] or 0)} for r in rows]

    # --- nodes --------------------------------------------------------------------------

    def list_nodes(self) -> list[StoredNode]:
        with self.engine.connect() as conn:
            states, versions = _rows.load_nodes(conn)
        return [StoredNode(states[i], versions[i]) for i in states]

    def get_node(self, node_id: str) -> StoredNode | None:
        with self.engine.connect() as conn:
            states, versions = _rows.load_nodes(conn, [node_id])
        return StoredNode(states[node_id], versions[node_id]) if node_id in states else None

    def load_nodes(self, ids: list[str]) -> dict[str, NodeState]:
        with self.engine.connect() as conn:
            return _rows.load_nodes(conn, ids)[0]

    def apply_node_observation(self, obs: NodeObservation) -> NodeState:
        """A legacy snapshot POST: the same merge as a reconcile cycle's."""
        with write_guard(self.engine), self.engine.begin() as conn:
            states, _ = _rows.load_nodes(conn, [obs.node_id], for_update=True)
            base = states.get(obs.node_id)
            new = apply_node_observation(base, obs)
            if new != base:
                _rows.write_nodes(conn, [new], utcnow())
        return new

    # --- settings and pipeline ------------------------------------------------------

    def publish_thresholds(self, thresholds: Thresholds) -> None:
        """So that the SQL alert rules read the hub's configuration."""
        with write_guard(self.engine), self.engine.begin() as conn:
            _rows.write_settings(conn, {
                SETTING_STALLED_AFTER: str(thresholds.stalled_after),
                SETTING_FAILED_AFTER: str(thresholds.failed_after),
                SETTING_STUCK_AFTER: str(thresholds.stuck_after),
                SETTING_PIPELINE_FRESH: str(thresholds.pipeline_fresh),
                SETTING_NODE_DOWN_AFTER: str(thresholds.node_down_after),
                SETTING_LATE_AFTER: str(thresholds.late_after),
                SETTING_SLOW_AFTER: str(thresholds.slow_after),
                SETTING_SLOW_RATIO: str(thresholds.slow_ratio),
            })

    def set_pipeline_alert(self, since: str | None) -> None:
        with write_guard(self.engine), self.engine.begin() as conn:
            _rows.write_settings(conn, {SETTING_PIPELINE_ALERT: since})

    def pipeline_status(self, freshness_seconds: float) -> PipelineStatus:
        now = utcnow()
        with self.engine.connect() as conn:
            row = dict(_rows.read_pipeline(conn) or {})
            values = _rows.read_settings(conn)
        alert_since = values.get(SETTING_PIPELINE_ALERT)
        last = row.get("last_reconcile_at")
        if last is None:
            fresh, reason = False, "no reconcile cycle has completed yet"
        elif (now - last).total_seconds() > freshness_seconds:
            fresh, reason = False, (
                f"last reconcile {(now - last).total_seconds():.0f}s ago (limit {freshness_seconds:.0f}s)"
            )
        elif alert_since:
            fresh, reason = False, f"pipeline_down alert firing since {alert_since}"
        else:
            fresh, reason = True, "ok"
        return PipelineStatus(fresh, reason, last, row.get("newest_point_at"), row.get("reconciler_id"),
                              _rows.read_counter(values, SETTING_UNKNOWN_JOBS),
                              _rows.read_counter(values, SETTING_LATE_POINTS),
                              _rows.read_counter(values, SETTING_INVALID_JOB_IDS),
                              _rows.read_counter(values, SETTING_CONFLICTING_POINTS), alert_since, now)

    # --- the reconciler's side -------------------------------------------------------

    def recount_jobs(self) -> dict[str, tuple[int, int]]:
        """Correct job_counts from the rows ({status: (held, counted)} of the wrong ones)."""
        with write_guard(self.engine), self.engine.begin() as conn:
            wrong = _rows.recount_jobs(conn)
        if wrong:
            logger.warning("job counts corrected (a writer outside the hub?): %s",
                           ", ".join(f"{s} {held} -> {n}" for s, (held, n) in wrong.items()))
            self._changed()
        return wrong

    def load_states(self, ids: list[str]) -> tuple[dict[str, JobState], _rows.Versions]:
        with self.engine.connect() as conn:
            return _rows.load_states(conn, ids)

    def load_active(self) -> tuple[dict[str, JobState], _rows.Versions, datetime | None]:
        """Every job not yet terminal, and the newest point the pipeline has seen."""
        with self.engine.connect() as conn:
            states, versions = _rows.load_active_states(conn)
            pipeline = _rows.read_pipeline(conn)
        return states, versions, pipeline["newest_point_at"] if pipeline else None

    def commit_cycle(
        self,
        planned: Mapping[str, Change],
        known: _rows.Versions,
        replan: Callable[[str, JobState | None], Change | None],
        *,
        now: datetime,
        newest_point_at: datetime | None,
        reconciler_id: str,
        unknown_jobs: int | None = None,
        nodes: list[NodeState] = (),
        late_points: int = 0,
        invalid_job_ids: int = 0,
        conflicting_points: int = 0,
    ) -> CycleCommit:
        """One transaction: lock the rows about to change, re-plan those another writer
        touched since ``known`` (webhook, legacy endpoint), write what changed and the
        pipeline's freshness."""
        changes = dict(planned)
        with write_guard(self.engine), self.engine.begin() as conn:
            current = _rows.load_versions(conn, list(changes), for_update=True)
            touched = [i for i in changes if current.get(i) != known.get(i)]
            reloaded, versions = _rows.load_states(conn, touched) if touched else ({}, {})
            for job_id in touched:
                change = replan(job_id, reloaded.get(job_id))
                if change is None:
                    del changes[job_id]
                else:
                    changes[job_id] = change
            written = list(changes.values())
            _rows.write_states(conn, [new for _, new in written], {i: b for i, (b, _) in changes.items()}, now)
            _rows.write_nodes(conn, list(nodes), now)
            _rows.write_pipeline(conn, reconciled_at=now, newest_point_at=newest_point_at,
                                 reconciler_id=reconciler_id)
            if unknown_jobs is not None:
                _rows.write_settings(conn, {SETTING_UNKNOWN_JOBS: str(unknown_jobs)})
            _rows.add_to_counters(conn, {SETTING_LATE_POINTS: late_points, SETTING_INVALID_JOB_IDS: invalid_job_ids,
                                         SETTING_CONFLICTING_POINTS: conflicting_points})
        if written:
            self._changed()
        return CycleCommit(written, reloaded, versions)
