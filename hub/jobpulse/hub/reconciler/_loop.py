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

from sqlalchemy import Engine

from jobpulse.hub.core.config import Settings
from jobpulse.hub.core.db import make_engine, write_guard
from jobpulse.hub.models import SETTING_UNKNOWN_JOBS

from . import _writer
from ._influx import InfluxClient
from ._lock import leader_lock
from ._query import cycle_query, parse_cycle_result
from ._state import JobState, Observation, apply_observation, new_job, utcnow

logger = logging.getLogger(__name__)

_UNKNOWN_REMEMBERED = 10_000


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


def make_influx(settings: Settings, transport=None) -> InfluxClient:
    return InfluxClient(
        settings.influx_url,
        settings.influx_db,
        username=settings.influx_username,
        password=settings.influx_password.get_secret_value() if settings.influx_password else None,
        token=settings.influx_token.get_secret_value() if settings.influx_token else None,
        timeout=settings.influx_timeout,
        transport=transport,
    )


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None = None,
        influx: InfluxClient | None = None,
        reconciler_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        on_write: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self._own_engine = engine is None
        self.engine = engine or make_engine(settings.database_url, pool_size=2)
        self._own_influx = influx is None
        self.influx = influx or make_influx(settings)
        self.id = reconciler_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._on_write = on_write
        self._lock = leader_lock(self.engine)
        self._leader = False
        self._cache: dict[str, JobState] = {}
        self._versions: dict[str, datetime] = {}
        self._newest: datetime | None = None
        self._unknown: set[str] = set()
        self._unknown_written = -1
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
        if not self._lock.acquire():
            if self._leader:
                logger.warning("reconciler %s is no longer the leader", self.id)
            self._leader = False
            self._cache.clear()
            self._versions.clear()
            return CycleResult(leader=False)
        if not self._leader:
            self._become_leader()

        now = self._clock()
        since = self._window_start(now)
        t0 = time.perf_counter()
        observations = parse_cycle_result(self.influx.query(cycle_query(since)))
        t1 = time.perf_counter()

        missing = [i for i in observations if i not in self._cache]
        if missing:
            with self.engine.connect() as conn:
                states, versions = _writer.load_states(conn, missing)
            self._cache.update(states)
            self._versions.update(versions)

        candidates: dict[str, tuple[JobState | None, JobState]] = {}
        for job_id, obs in observations.items():
            base = self._cache.get(job_id)
            if base is None:
                self._register(job_id, obs, candidates)
                continue
            new = apply_observation(base, obs)
            if new != base:
                candidates[job_id] = (base, new)

        newest = max((o.time for o in observations.values()), default=None)
        if self._newest is not None and (newest is None or self._newest > newest):
            newest = self._newest
        with write_guard(self.engine), self.engine.begin() as conn:
            current = _writer.load_versions(conn, list(candidates), for_update=True)
            touched = [i for i in candidates if current.get(i) != self._versions.get(i)]
            fresh: dict[str, JobState] = {}
            if touched:
                fresh, fresh_versions = _writer.load_states(conn, touched)
                self._versions.update(fresh_versions)
                for job_id in touched:
                    base = fresh.get(job_id)
                    candidates.pop(job_id)
                    if base is None:
                        self._register(job_id, observations[job_id], candidates)
                        continue
                    new = apply_observation(base, observations[job_id])
                    if new != base:
                        candidates[job_id] = (base, new)
            states = [new for _, new in candidates.values()]
            _writer.write_states(conn, states, {i: b for i, (b, _) in candidates.items()}, now)
            _writer.write_pipeline(conn, reconciled_at=now, newest_point_at=newest, reconciler_id=self.id)
            if len(self._unknown) != self._unknown_written:
                _writer.write_settings(conn, {SETTING_UNKNOWN_JOBS: str(len(self._unknown))})
        t2 = time.perf_counter()
        self._unknown_written = len(self._unknown)
        if states and self._on_write is not None:
            self._on_write()

        self._cache.update(fresh)
        for s in states:
            self._cache[s.id] = s
            self._versions[s.id] = now
        # Finished jobs leave the cache once their points leave the window; a late point
        # reloads them from the database.
        for job_id in [i for i, s in self._cache.items() if s.terminal and i not in observations]:
            del self._cache[job_id]
            self._versions.pop(job_id, None)
        self._newest = newest
        return CycleResult(
            leader=True,
            since=since,
            observed=len(observations),
            written=len(states),
            registered=sum(1 for b, _ in candidates.values() if b is None),
            unknown=len(self._unknown),
            newest_point_at=newest,
            query_seconds=t1 - t0,
            write_seconds=t2 - t1,
        )

    def _register(self, job_id: str, obs: Observation, candidates: dict) -> None:
        if self.settings.auto_register:
            candidates[job_id] = (None, apply_observation(new_job(obs), obs))
            return
        if job_id not in self._unknown:
            logger.warning(
                "telemetry for unknown job %r ignored (JOBPULSE_AUTO_REGISTER=false)", job_id
            )
            if len(self._unknown) < _UNKNOWN_REMEMBERED:
                self._unknown.add(job_id)

    def _become_leader(self) -> None:
        with self.engine.connect() as conn:
            states, versions = _writer.load_active_states(conn)
            pipeline = _writer.read_pipeline(conn)
        self._cache, self._versions = states, versions
        self._newest = pipeline["newest_point_at"] if pipeline else None
        self._leader = True
        logger.info("reconciler %s is the leader (%d active jobs)", self.id, len(states))

    def _window_start(self, now: datetime) -> datetime:
        floor = now - timedelta(seconds=self.settings.reconcile_max_lookback)
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
                self.run_once()
                failures = 0
                self.last_error = None
                delay = self.settings.reconcile_interval
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
        if self._own_engine:
            self.engine.dispose()
