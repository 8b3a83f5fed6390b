"""Telemetry: the MeterProvider, the watcher, the flusher and the jobs of one process."""

from __future__ import annotations

import atexit
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone

from . import _config
from ._errors import InvalidDeadline, InvalidJobId
from ._exporter import SpoolingMetricExporter
from ._job import Job
from ._sender import otlp_sender
from ._spool import Spool
from ._watcher import Watcher
from jobpulse.semconv import ENV_JOB_ID, SCOPE_NAME, JobType, job_id_problem

_logger = logging.getLogger("jobpulse.agent")

DEFAULT_FINAL_TIMEOUT = 10.0
# The caller's "now" may be read a moment before ours (or from a clock a little behind).
DEADLINE_SLACK_SECONDS = 1.0
# A backup window, not a calendar: anything farther is a mistake (a wrong year, ms for s).
DEADLINE_HORIZON_DAYS = 366
_OUTAGE_FINAL_WAIT = 0.5  # during a known outage the final batch is already spooled: do not wait long

try:
    from importlib.metadata import version as _version

    _AGENT_VERSION = _version("jobpulse")
except Exception:  # not installed (running from a source tree)
    _AGENT_VERSION = "0.0.0"


def resolve_job_id(job_type: str, machine: str, job_id: str | None = None,
                   wall: Callable[[], float] = time.time) -> str:
    """argument > $MIGRATEKIT_JOB_ID > TYPE-MACHINE-UNIXTIME, checked against the hub's id rule."""
    resolved = job_id or os.environ.get(ENV_JOB_ID) or f"{job_type}-{machine}-{int(wall())}"
    problem = job_id_problem(resolved)
    if problem:
        raise InvalidJobId(f"{problem}: {resolved!r}")
    return resolved


def resolve_deadline(deadline: datetime | timedelta | None,
                     wall: Callable[[], float] = time.time) -> float | None:
    """A deadline as Unix seconds: an aware datetime, a naive one taken as UTC, or a positive
    timedelta from now. Raises InvalidDeadline for any other type, a time more than
    DEADLINE_SLACK_SECONDS in the past, or one more than DEADLINE_HORIZON_DAYS ahead."""
    if deadline is None:
        return None
    now = wall()
    if isinstance(deadline, timedelta):
        seconds = deadline.total_seconds()
        if seconds <= 0:
            raise InvalidDeadline(f"a duration must be positive: {seconds:g} s")
        at, shown = now + seconds, f"{deadline} from now"
    elif isinstance(deadline, datetime):
        if deadline.utcoffset() is None:
            deadline = deadline.replace(tzinfo=timezone.utc)
        at, shown = deadline.timestamp(), deadline.isoformat()
    else:
        raise InvalidDeadline(f"deadline must be a datetime or a timedelta, not {type(deadline).__name__}")
    if at < now - DEADLINE_SLACK_SECONDS:
        raise InvalidDeadline(f"deadline is in the past: {shown}")
    if at > now + DEADLINE_HORIZON_DAYS * 86400:
        raise InvalidDeadline(f"deadline is more than {DEADLINE_HORIZON_DAYS} days ahead: {shown}")
    return at


class Telemetry:
    """Owns the metric pipeline of one process; several jobs may run at once.

    Build it with :func:`configure`. With ``enabled=False`` no OpenTelemetry
    object exists at all, but jobs still count bytes, speed and ETA.
    """

    def __init__(
        self,
        *,
        provider=None,
        exporter: SpoolingMetricExporter | None = None,
        description: str = "disabled",
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        watch_interval: float | None = 0.2,
        final_timeout: float = DEFAULT_FINAL_TIMEOUT,
        export_interval: float | None = None,
    ) -> None:
        self.provider = provider
        self.exporter = exporter
        self.description = description
        self.final_timeout = final_timeout
        self._clock = clock
        self._wall = wall_clock
        # Guards the job list, read by the watcher and metric callbacks on other threads.
        self._jobs_lock = threading.Lock()
        self._jobs: list[Job] = []
        # The flusher: export requests are coalesced into one forced collection at a time.
        # The condition guards the two counters below.
        self._flush_cond = threading.Condition()
        self._flush_requested = 0
        self._flush_done = 0
        self._stop = threading.Event()
        # The periodic export is the watcher's: due ``export_interval`` seconds after the last
        # export of any cause, so one that a change or a 10 % crossing brought forward is not
        # repeated by a timer of its own (the SDK reader's, which ran on every interval
        # whatever had just gone out: a fifth of a job's exports, and a thread).
        self._export_interval = export_interval
        self._last_export = clock()
        self._shutdown_once = threading.Lock()
        self._is_shut = False
        self._flusher: threading.Thread | None = None
        if provider is not None:
            from ._instruments import Instruments

            self._instruments = Instruments(provider.get_meter(SCOPE_NAME, _AGENT_VERSION), self.jobs)
            self._flusher = threading.Thread(target=self._flush_loop, name="jobpulse-flusher", daemon=True)
            self._flusher.start()
        self.watcher = Watcher(self.jobs, self.request_export, clock, watch_interval or 0.2,
                               periodic=self._export_if_due if export_interval and provider is not None else None)
        if watch_interval:
            self.watcher.start()
        atexit.register(self.shutdown)

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def jobs(self) -> list[Job]:
        with self._jobs_lock:
            return list(self._jobs)

    def start_job(
        self,
        job_type: str | JobType = JobType.BACKUP,
        machine: str | None = None,
        disks: Sequence[int] = (),
        job_id: str | None = None,
        *,
        total_known: bool = True,
        deadline: datetime | timedelta | None = None,
    ) -> Job:
        """Start reporting a job. ``job_id`` defaults to $MIGRATEKIT_JOB_ID, else type-machine-time.
        ``deadline``: when the job should have ended (the end of its window), reported as
        ``jobpulse.job.deadline`` until the job ends; see :func:`resolve_deadline`.
        Raises InvalidJobId or InvalidDeadline, before anything is sent."""
        jt = JobType(job_type).value
        machine = machine or socket.gethostname()
        job_id = resolve_job_id(jt, machine, job_id, self._wall)
        job = Job(
            job_id, jt, machine, list(disks),
            clock=self._clock, wall_clock=self._wall,
            on_change=self._job_changed, on_end=self._job_ended, total_known=total_known,
            deadline=resolve_deadline(deadline, self._wall),
        )
        with self._jobs_lock:
            self._jobs.append(job)
        self.request_export()  # start: the collector hears of the job at once
        return job

    def _job_changed(self, job: Job) -> None:
        self.request_export()

    def _job_ended(self, job: Job) -> None:
        self.flush(self.final_timeout)

    # --- exporting --------------------------------------------------------------
    def _export_if_due(self, now: float) -> None:
        # Read without the condition: a stale value only moves the export by one tick.
        if now - self._last_export >= self._export_interval:
            self._last_export = now  # asked once, not again on every tick until it starts
            self.request_export()

    def request_export(self) -> int:
        """Ask for an export soon; never blocks. Returns a ticket for :meth:`flush`."""
        if self.provider is None:
            return 0
        with self._flush_cond:
            self._flush_requested += 1
            self._flush_cond.notify_all()
            return self._flush_requested

    def flush(self, timeout: float | None = None) -> bool:
        """Export now and wait at most ``timeout`` seconds; True if the export finished in time."""
        if self.provider is None or self._is_shut:
            return True
        timeout = self.final_timeout if timeout is None else timeout
        return self._wait_flushed(self.request_export(), timeout)

    def _wait_flushed(self, ticket: int, timeout: float) -> bool:
        """Wait for export ``ticket``; during a collector outage give up after a short grace.

        A batch that fails is spooled at once, so waiting longer would only delay the job's owner.
        """
        deadline = time.monotonic() + timeout
        outage_deadline = None
        while True:
            now = time.monotonic()
            if self.exporter is not None and self.exporter.outage.down and outage_deadline is None:
                outage_deadline = now + _OUTAGE_FINAL_WAIT
            end = min(deadline, outage_deadline or deadline)
            with self._flush_cond:
                if self._flush_cond.wait_for(lambda: self._flush_done >= ticket, max(0.0, min(0.05, end - now))):
                    return True
            if time.monotonic() >= end:
                return False

    def _flush_loop(self) -> None:
        while True:
            with self._flush_cond:
                self._flush_cond.wait_for(lambda: self._flush_requested > self._flush_done or self._stop.is_set())
                if self._stop.is_set() and self._flush_requested <= self._flush_done:
                    return
                target = self._flush_requested
            self._last_export = self._clock()
            try:
                self.provider.force_flush(timeout_millis=self.final_timeout * 1000)
            except Exception:
                _logger.debug("forced export failed", exc_info=True)
            with self._flush_cond:
                self._flush_done = max(self._flush_done, target)
                self._flush_cond.notify_all()

    def shutdown(self, timeout: float | None = None) -> None:
        """Final export (bounded), then stop every thread. Safe to call twice."""
        with self._shutdown_once:
            if self._is_shut:
                return
            self._is_shut = True
        atexit.unregister(self.shutdown)
        timeout = self.final_timeout if timeout is None else timeout
        self.watcher.stop()
        if self.provider is None:
            return
        deadline = time.monotonic() + timeout
        if self.exporter is not None and self.exporter.outage.down:
            self.exporter.go_offline()  # the last batch goes to the spool without waiting on a send
        ticket = self.request_export()
        ok = self._wait_flushed(ticket, max(0.0, deadline - time.monotonic()))
        if not ok and self.exporter is not None:
            self.exporter.go_offline()  # cuts the send in flight: it fails and spools its batch
            with self._flush_cond:
                self._flush_cond.wait_for(lambda: self._flush_done >= ticket, 2.0)
        if self.exporter is not None:
            self.exporter.close()
        self._stop.set()
        with self._flush_cond:
            self._flush_cond.notify_all()
        try:
            self.provider.shutdown(timeout_millis=max(500.0, (deadline - time.monotonic()) * 1000))
        except Exception:
            _logger.debug("meter provider shutdown failed", exc_info=True)


def configure(
    *,
    enabled: bool = True,
    exporter=None,
    reader=None,
    sender=None,
    protocol: str | None = None,
    endpoint: str | None = None,
    headers: dict[str, str] | None = None,
    export_interval_millis: float | None = None,
    service_name: str | None = None,
    spool: Spool | None | bool = True,
    final_timeout: float = DEFAULT_FINAL_TIMEOUT,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    watch_interval: float | None = 0.2,
) -> Telemetry:
    """Build the process's Telemetry.

    By default batches go out over OTLP (``protocol``, ``endpoint``, ``headers``: argument >
    OTEL_EXPORTER_OTLP_* > http/protobuf on localhost:4318) through the agent's own sender, with
    the offline spool and outage logging. ``sender`` replaces that transport (an object with
    ``endpoint``, ``send(body, timeout) -> SendResult`` and ``shutdown(timeout)``).
    ``exporter`` (any SDK MetricExporter) replaces the whole OTLP path, spool included, and
    ``reader`` (e.g. the SDK's InMemoryMetricReader) the periodic pipeline itself.
    Periodic exports are ``export_interval_millis`` apart, at most 5000 ms.
    ``spool``: True for the default file, a Spool, or False/None for none.
    ``watch_interval=None`` starts no watcher thread (tests call ``watcher.tick()``), and so no
    periodic export: the watcher's tick is what asks for it.
    """
    if not enabled:
        return Telemetry(clock=clock, wall_clock=wall_clock, watch_interval=watch_interval, final_timeout=final_timeout)
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    wrapper = None
    description = "custom reader"
    if reader is None:
        interval = _config.export_interval_ms(export_interval_millis)
        if exporter is None:
            proto = "custom sender" if sender is not None else _config.protocol(protocol)
            sender = sender or otlp_sender(proto, endpoint, headers=headers)
            description = f"OTLP {proto} -> {sender.endpoint}"
            if spool is True:
                spool = Spool()
            exporter = wrapper = SpoolingMetricExporter(sender, spool or None)
        else:
            description = f"{type(exporter).__name__} (no spool)"
        # math.inf: the reader starts no thread of its own; the watcher asks for the periodic
        # export (Telemetry._export_if_due).
        reader = PeriodicExportingMetricReader(
            exporter, export_interval_millis=math.inf, export_timeout_millis=final_timeout * 1000
        )
        export_interval = interval / 1000.0
    else:
        export_interval = None  # the caller's reader keeps its own time
    provider = MeterProvider(metric_readers=[reader], resource=_config.resource(service_name))
    return Telemetry(
        provider=provider, exporter=wrapper, description=description,
        clock=clock, wall_clock=wall_clock, watch_interval=watch_interval, final_timeout=final_timeout,
        export_interval=export_interval,
    )


_default: Telemetry | None = None
_default_lock = threading.Lock()  # two threads starting the first job must not build two pipelines


def default_telemetry() -> Telemetry:
    global _default
    with _default_lock:
        if _default is None:
            _default = configure()
        return _default


def start_job(
    job_type: str | JobType = JobType.BACKUP,
    machine: str | None = None,
    disks: Sequence[int] = (),
    job_id: str | None = None,
    telemetry: Telemetry | None = None,
    *,
    deadline: datetime | timedelta | None = None,
) -> Job:
    """Start a job on ``telemetry`` (default: the process-wide one, configured on first use)."""
    return (telemetry or default_telemetry()).start_job(job_type, machine, disks, job_id, deadline=deadline)
