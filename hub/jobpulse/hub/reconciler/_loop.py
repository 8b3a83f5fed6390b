"""The reconcile loop: InfluxDB -> state rules -> MySQL, on a named daemon thread.

A cycle, when this replica holds the leader lock:
1. one /query request (a few statements) for the last value of every series with a
   point since shortly before the newest point already seen (wider after a start or
   an outage, capped by ``reconcile_max_lookback``): cost follows the jobs that sent
   telemetry recently, not history;
2. the state rules against an in-memory copy of the last written state;
3. one transaction: re-check (``FOR UPDATE``) the versions of the rows about to change,
   rebase those another writer touched (webhook, legacy endpoint), upsert only the rows
   that changed, and record the pipeline's freshness.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from jobpulse.hub.core.cache import ResponseCache
from jobpulse.hub.core.clock import utcnow
from jobpulse.hub.core.config import Settings
from jobpulse.hub.core.db import make_engine
from jobpulse.hub.influx import (InfluxClient, InfluxTimeoutError, cycle_query, narrowed_cycle_query,
                                 parse_cycle_result, parse_node_result, parse_probe_result, probe_query)
from jobpulse.hub.state import (
    JobState,
    NodeState,
    Observation,
    apply_node_observation,
    apply_observation,
    choose_sender,
    forecast,
    is_late,
    new_job,
)
from jobpulse.semconv import job_id_problem, node_id_problem
from jobpulse.hub.store import Change, Store

from ._lock import leader_lock

logger = logging.getLogger(__name__)

_UNKNOWN_REMEMBERED = 10_000
# Usual speeds are re-read this often at least: jobs completed through another replica's legacy
# endpoint do not pass through this loop.
_USUAL_TTL = 300.0
# Windows up to this wide are probed first (steady state: the overlap plus a cycle or two).
_PROBE_WINDOW_SECONDS = 120.0
# How long a job that reported counts among the series a whole-window read visits.
_SEEN_HORIZON = 3600.0
# The narrowest catch-up slice: about one export of every job.
_MIN_SPAN_SECONDS = 5.0
# The leader recounts job_counts this often (and on becoming the leader): the hub's own writers
# keep it exact, this mends what a writer outside the hub (an older replica mid-upgrade, a hand
# edit) left wrong.
RECOUNT_SECONDS = 60.0


@dataclass(frozen=True)
class CycleResult:
    leader: bool
    since: datetime | None = None
    observed: int = 0
    written: int = 0
    registered: int = 0
    unknown: int = 0
    newest_point_at: datetime | None = None
    query_seconds: float = 0.0
    write_seconds: float = 0.0
    # Whether the cycle read only the series of the jobs that reported (after a probe).
    narrowed: bool = False
    # The window ended before now: a catch-up in slices, the next one due at once.
    catching_up: bool = False


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        influx: InfluxClient | None = None,
        reconciler_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        list_cache: ResponseCache | None = None,
    ) -> None:
        """Without ``store`` the reconciler opens its own small pool, so API traffic never
        starves a cycle; ``list_cache`` is the app's, invalidated by the cycle's writes."""
        self.settings = settings
        self._own_store = store is None
        self.store = store or Store(make_engine(settings.database_url, pool_size=2), list_cache)
        self._own_influx = influx is None
        self.influx = influx or InfluxClient.from_settings(settings)
        self.id = reconciler_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._lock = leader_lock(self.store.engine)
        self._leader = False
        # The last written state of every job in flight, and its row version.
        self._cache: dict[str, JobState] = {}
        self._versions: dict[str, datetime] = {}
        self._newest: datetime | None = None
        # The last written state of every node seen since this replica became the leader.
        self._nodes: dict[str, NodeState] = {}
        self._unknown: set[str] = set()
        self._unknown_written = -1
        self._refused_nodes: set[str] = set()
        self._invalid_jobs: set[str] = set()
        # Per terminal job, the newest late point already counted (windows overlap: the same
        # late point is seen by several cycles and must be counted once).
        self._late: dict[str, datetime] = {}
        # Per job, the newest refused point of another sender already counted (windows overlap).
        self._conflicts: dict[str, datetime] = {}
        self._conflicting = 0
        # The usual speed per (machine, job type) of the jobs in flight; a completion drops its key.
        self._usual: dict[tuple[str, str], int | None] = {}
        self._usual_read_at = 0.0
        # Job id -> when (monotonic) it last reported: about the jobs whose series a whole-window
        # read visits, the denominator of the narrowing rule.
        self._seen: dict[str, float] = {}
        self._seen_pruned = 0.0
        # The widest window a cycle reads while it catches up (seconds; None: up to now), halved
        # each time InfluxDB timed out, and where the last slice ended.
        self._span: float | None = None
        self._slice_end: datetime | None = None
        self._recounted_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Serializes run_once between the loop thread and callers (tests, shutdown).
        self._cycle_lock = threading.Lock()
        self.last_result: CycleResult | None = None
        self.last_error: str | None = None

    # --- one cycle ---------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self._leader

    def run_once(self) -> CycleResult:
        with self._cycle_lock:
            result = self._cycle()
            self.last_result = result
            return result

    def _cycle(self) -> CycleResult:
        if not self._lead():
            return CycleResult(leader=False)
        self._recount_if_due()
        now = self._clock()
        since = self._window_start(now)
        until = None
        if self._span is not None and (now - since).total_seconds() > self._span:
            until = since + timedelta(seconds=self._span)
        t0 = time.perf_counter()
        try:
            reported = self._probe(now, since) if until is None else None
            narrowed = reported is not None
            payload = self.influx.query(narrowed_cycle_query(since, reported) if narrowed
                                        else cycle_query(since, until))
        except InfluxTimeoutError:
            # Each retry of a window that timed out would be wider still (it grows from the last
            # point seen): halve it instead, and catch up in slices that InfluxDB can answer.
            width = ((until or now) - since).total_seconds()
            self._span = max(_MIN_SPAN_SECONDS, width / 2)
            logger.warning("InfluxDB did not answer a %.0f s window in time; reading at most %.0f s per cycle",
                           width, self._span)
            raise
        observations = parse_cycle_result(payload, self._sender_of)
        self._mark_seen(observations)
        invalid = self._drop_invalid(observations)
        nodes = self._plan_nodes(parse_node_result(payload))
        t1 = time.perf_counter()

        self._load_missing(list(observations))
        self._load_usual(observations)
        planned = {}
        late = 0
        for job_id, obs in observations.items():
            base = self._cache.get(job_id)
            if base is not None and is_late(base, obs):
                late += self._count_late(base, obs)
                continue
            change = self._plan(obs, base)
            if change is not None:
                planned[job_id] = change
        newest = max((o.time for o in observations.values()), default=None)
        if self._newest is not None and (newest is None or self._newest > newest):
            newest = self._newest
        unknown = len(self._unknown)
        conflicting, self._conflicting = self._conflicting, 0
        commit = self.store.commit_cycle(
            planned, self._versions, lambda job_id, base: self._plan(observations[job_id], base),
            now=now, newest_point_at=newest, reconciler_id=self.id,
            unknown_jobs=unknown if unknown != self._unknown_written else None, nodes=nodes,
            late_points=late, invalid_job_ids=invalid, conflicting_points=conflicting,
        )
        self._nodes.update((n.node_id, n) for n in nodes)
        t2 = time.perf_counter()
        self._unknown_written = unknown
        self._remember(commit.reloaded, commit.versions, commit.written, now, observations)
        self._newest = newest
        self._slice_end = until
        if until is None:
            self._span = None  # caught up: a steady window is narrow anyway
        return CycleResult(
            leader=True, since=since, observed=len(observations), written=len(commit.written),
            registered=sum(1 for base, _ in commit.written if base is None), unknown=len(self._unknown),
            newest_point_at=newest, query_seconds=t1 - t0, write_seconds=t2 - t1, narrowed=narrowed,
            catching_up=until is not None,
        )

    def _probe(self, now: datetime, since: datetime) -> set[str] | None:
        """The jobs that reported in the window, when few enough to read only theirs; None: read
        the whole window. A cold start or a catch-up after an outage reads the whole window at
        once (probing it would read its status points twice)."""
        ratio = self.settings.reconcile_narrow_ratio
        widest = timedelta(seconds=max(_PROBE_WINDOW_SECONDS, 4 * self.settings.reconcile_overlap))
        if not ratio or self._newest is None or now - since > widest:
            return None
        reported = parse_probe_result(self.influx.query(probe_query(since)))
        return reported if len(reported) <= ratio * max(len(self._seen), len(reported)) else None

    def _mark_seen(self, job_ids) -> None:
        mono = time.monotonic()
        self._seen.update(dict.fromkeys(job_ids, mono))
        if mono - self._seen_pruned > 60:
            self._seen = {j: t for j, t in self._seen.items() if mono - t <= _SEEN_HORIZON}
            self._seen_pruned = mono

    def _lead(self) -> bool:
        """Hold (or take) the leader lock; a replica that is not the leader keeps no state."""
        if not self._lock.acquire():
            if self._leader:
                logger.warning("reconciler %s is no longer the leader", self.id)
            self._leader = False
            self._cache.clear()
            self._versions.clear()
            self._nodes.clear()
            self._usual.clear()
            self._recounted_at = None
            return False
        if not self._leader:
            self._cache, self._versions, self._newest = self.store.load_active()
            self._leader = True
            logger.info("reconciler %s is the leader (%d active jobs)", self.id, len(self._cache))
        return True

    def _recount_if_due(self) -> None:
        mono = time.monotonic()
        if self._recounted_at is None or mono - self._recounted_at >= RECOUNT_SECONDS:
            self.store.recount_jobs()
            self._recounted_at = mono

    def _load_missing(self, ids: list[str]) -> None:
        missing = [i for i in ids if i not in self._cache]
        if missing:
            states, versions = self.store.load_states(missing)
            self._cache.update(states)
            self._versions.update(versions)

    def _sender_of(self, job_id: str) -> str | None:
        state = self._cache.get(job_id)
        return state.sender if state is not None else None

    def _speed_key(self, obs: Observation) -> tuple[str, str]:
        base = self._cache.get(obs.job_id) or new_job(obs)
        return base.machine, base.job_type

    def _load_usual(self, observations: dict[str, Observation]) -> None:
        if time.monotonic() - self._usual_read_at > _USUAL_TTL:
            self._usual.clear()
            self._usual_read_at = time.monotonic()
        missing = {self._speed_key(o) for o in observations.values()} - set(self._usual)
        if missing:
            self._usual.update(self.store.usual_speeds(sorted(missing), self.settings.usual_speed_jobs))

    def _drop_invalid(self, observations: dict[str, Observation]) -> int:
        """Telemetry under an id no endpoint could address is never stored: each such id is
        logged and counted once; returns how many ids are new."""
        new = 0
        for job_id in [i for i in observations if job_id_problem(i)]:
            del observations[job_id]
            if job_id not in self._invalid_jobs and len(self._invalid_jobs) < _UNKNOWN_REMEMBERED:
                self._invalid_jobs.add(job_id)
                new += 1
                logger.warning("telemetry for job %r ignored: %s", job_id, job_id_problem(job_id))
        return new

    def _count_late(self, base: JobState, obs: Observation) -> int:
        """1 when ``obs`` is a late point of ``base`` not counted before (logged once per job)."""
        seen = self._late.get(base.id)
        if seen is not None and obs.time <= seen:
            return 0
        if seen is None:
            if len(self._late) >= _UNKNOWN_REMEMBERED:
                return 0
            logger.warning("telemetry for %s job %r after its end ignored: its figures are frozen "
                           "(a re-used job id? every run needs its own)", base.status, base.id)
        self._late[base.id] = obs.time
        return 1

    def _plan(self, obs: Observation, base: JobState | None) -> Change | None:
        """What ``obs`` changes in the job: None for no change (or an unknown job that is
        not registered automatically)."""
        if base is not None:
            new = self._merge(base, obs)
            return None if new == base else (base, new)
        if self.settings.auto_register:
            return None, self._merge(new_job(obs), obs)
        if obs.job_id not in self._unknown:
            logger.warning("telemetry for unknown job %r ignored (JOBPULSE_AUTO_REGISTER=false)", obs.job_id)
            if len(self._unknown) < _UNKNOWN_REMEMBERED:
                self._unknown.add(obs.job_id)
        return None

    def _merge(self, base: JobState, obs: Observation) -> JobState:
        """The sender's check, then the state rules and the forecast on what it let through."""
        state, taken = choose_sender(base, obs)
        refused = [o for o in (obs,) + obs.rivals if o is not taken and o.sender and o.sender != state.sender]
        for rival in refused:
            self._count_conflict(state, rival)
        if taken is None:
            return state
        return self._forecast(apply_observation(state, taken))

    def _count_conflict(self, state: JobState, rival: Observation) -> None:
        seen = self._conflicts.get(state.id)
        if seen is not None and rival.time <= seen:
            return
        if seen is None:
            if len(self._conflicts) >= _UNKNOWN_REMEMBERED:
                return
            logger.warning("telemetry for job %r from sender %r refused: the job's figures come from %r "
                           "(two agents with one job id? POST /api/v1/jobs/{id}/takeover hands it over)",
                           state.id, rival.sender, state.sender)
        self._conflicts[state.id] = rival.time
        self._conflicting += 1

    def _forecast(self, state: JobState) -> JobState:
        return forecast(state, self._usual.get((state.machine, state.job_type)), self.settings.slow_ratio)

    def _plan_nodes(self, observed) -> list[NodeState]:
        """Nodes whose snapshot changed (a node's row is written by this loop and by legacy
        posts; the newer snapshot wins either way, so no version check is needed)."""
        for node_id in [i for i in observed if node_id_problem(i)]:
            if node_id not in self._refused_nodes and len(self._refused_nodes) < _UNKNOWN_REMEMBERED:
                logger.warning("host metrics of node %r ignored: %s", node_id, node_id_problem(node_id))
                self._refused_nodes.add(node_id)
            del observed[node_id]
        missing = [i for i in observed if i not in self._nodes]
        if missing:
            self._nodes.update(self.store.load_nodes(missing))
        changed = []
        for node_id, obs in observed.items():
            base = self._nodes.get(node_id)
            new = apply_node_observation(base, obs)
            if new != base:
                changed.append(new)
        return changed

    def _remember(self, reloaded, versions, written: list[Change], now: datetime, observations) -> None:
        self._cache.update(reloaded)
        self._versions.update(versions)
        for base, s in written:
            self._cache[s.id] = s
            self._versions[s.id] = now
            if s.terminal and (base is None or not base.terminal):
                self._usual.pop((s.machine, s.job_type), None)  # one more completed job to count
        # Finished jobs leave the cache once their points leave the window; a late point
        # reloads them from the database.
        for job_id in [i for i, s in self._cache.items() if s.terminal and i not in observations]:
            del self._cache[job_id]
            self._versions.pop(job_id, None)

    def _window_start(self, now: datetime) -> datetime:
        floor = now - timedelta(seconds=self.settings.reconcile_max_lookback)
        if self._slice_end is not None:
            # Catching up: the next slice starts where the last one ended, even if it held no
            # point (a window tied to the newest point would never leave an empty slice).
            return max(self._slice_end, floor)
        if self._newest is None:
            return floor
        start = min(self._newest, now) - timedelta(seconds=self.settings.reconcile_overlap)
        return max(start, floor)

    # --- thread --------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="jobpulse-reconciler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                result = self.run_once()
                failures = 0
                self.last_error = None
                delay = 0.0 if result.catching_up else self.settings.reconcile_interval
            except Exception as err:  # noqa: BLE001 - the loop must survive any outage
                failures += 1
                self.last_error = f"{type(err).__name__}: {err}"
                delay = min(
                    self.settings.reconcile_max_backoff,
                    self.settings.reconcile_interval * (2 ** min(failures, 10)),
                )
                logger.warning("reconcile cycle failed (%s); retrying in %.1fs", self.last_error, delay)
            self._stop.wait(delay)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and hand over the lock; safe to call twice."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        with self._cycle_lock:
            self._lock.release()
            self._leader = False
        if self._own_influx:
            self.influx.close()
        if self._own_store:
            self.store.dispose()
