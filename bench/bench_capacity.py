"""Pipeline capacity benchmark (``make bench-capacity``): concurrent 4-disk jobs until freshness or drops fail.

How many concurrent 4-disk jobs one machine carries through the real agent library, the real collector,
real InfluxDB, MariaDB and the hub.

A private stack is started for the run (jobpulse.stack: InfluxDB --influxdb 1|2, MariaDB, the collector
built by OCB, the hub with its reconciler at its normal interval; no node collector) and removed
afterwards. --processes agent processes each call ``jobpulse.agent.configure()`` --exporters times (each
pipeline its own OTLP/HTTP exporter at the library's 4.5 s cadence and its own offline spool in a temporary
folder) and deal their share of the jobs over those pipelines; every second each job's four disks advance
(no data is copied). The pipelines start at evenly spread moments of the export interval, as independent
agents do not export in lockstep: with few exporters in step, the newest point would age by a whole
interval between their exports. The job count is stepped up (--steps); each step is ramped, settled
(every job reconciled by the hub once, then two export intervals) and held (--hold seconds) while

  freshness    now - the hub's newest reconciled point (pipeline_state.newest_point_at, what
               GET /api/v1/pipeline reports as newest_point_age_seconds), read from MariaDB every second;
               split into the point's age when the hub's cycle began (last_reconcile_at - newest_point_at:
               the write path) and the time since (the hub)
  job age      now - each job's last_telemetry_at, every 5 s (context: a job's own staleness)
  dropped      points the agents could not export (refused or timed out: spooled, late at best), points
               the collector refused, and points its InfluxDB exporter failed to send or to queue
  unseen       jobs the hub has no row for, and jobs whose row was not updated during the hold
  cycle/query  the hub's reconcile cycle (the period of pipeline_state.last_reconcile_at less the 2 s
               pause; mean and longest), failed cycles (the hub's log) and the mean time InfluxDB spent answering its query (InfluxDB's own request
               statistics: /metrics on 2.x, /debug/vars on 1.x; the hub is the only client that queries)
  CPU          user + system seconds of each stage's process tree over the hold, as % of one core:
               agents (the worker processes), collector, InfluxDB, MariaDB, hub; "other" is the rest of
               the machine's busy time (this benchmark's sampler and whatever else runs here)
  core wait    seconds each stage's threads were runnable but waited for a core (scheduler run-queue
               delay from /proc/<pid>/task/*/schedstat), as % of one core: the cost of a busy machine

Baselines measured in the same run: the idle stack (agents configured, no job) for CPU, the first step
for freshness, and the points per second the jobs should produce (jobs x points per export / 4.5 s)
beside the rate the collector wrote to InfluxDB.

A step passes when freshness p95 <= 10 s, no point is dropped and every job is seen and updated. Stepping
stops at the first step that does not pass; capacity is the last step that passed. The limiting stage of
that first failing step (``limiting_stage``) is, in this order:
  1. where points were dropped: the collector (it refused them, or the agents' exports failed against it)
     or InfluxDB (the collector's exporter failed or its queue was full);
  1b. failed reconcile cycles (the hub's log): InfluxDB when its query failed (e.g. timed out), MariaDB on
     a database error, else the hub;
  2. InfluxDB when the collector's sending queue grew by 5 batches or more during the hold (writes behind);
  3. a stage pegged below the machine's size: the hub at >= 90 % of one core (its reconciler is one Python
     thread), an agent process at >= 90 % of one core or an export (p95) longer than the 4.5 s interval;
  3b. when freshness fails and, over its worst 5 % of samples, the newest point was older when the hub's
     cycle began than the time the hub took after (pipeline_state: last_reconcile_at - newest_point_at vs
     now - last_reconcile_at): the write path lags, and its stage using the most CPU + core wait is named
     (agents, collector or InfluxDB);
  4. when the hub's reconcile cycles run long (cycle = their period less the 2 s pause, at least 2 s), the
     largest of its parts: InfluxDB answering the cycle's query, the hub's own CPU per cycle, the hub's
     run-queue wait per cycle (then rule 5: the cores are the limit), or the rest (the hub blocked outside
     its query: its transaction on MariaDB);
  5. when the machine is saturated (busy >= 90 % of its cores): the stage using the most CPU;
  6. otherwise the stage with the highest share of the CPU it can use.
The newest point's age is the gap between exports, the collector's 1 s batch, the 2 s pause and the hub's
cycle: a freshness failure with slow cycles is blamed on the cycle's parts (4) before the machine's load
(5), which slows every part. The report also turns each stage's CPU above idle into a cost per 1 000 jobs
and the job count the machine's cores would hold at that cost.
When every step passes, the limit is "not reached" and capacity is the largest step.

The jobs start at 1 % of 4 x 2 TiB and move at 100 MB/s, so no job crosses a 10 % boundary during a run:
a crossing forces an export, and with thousands of jobs per process every forced export would carry all of
them (in production each job is its own process and its crossings export one job).

Run from the repo root as a module: python -m bench.bench_capacity [--steps ...] [--hold S] [--influxdb 1|2].
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import httpx
import psutil
from sqlalchemy import func, select

from jobpulse import semconv as sc
from jobpulse.hub import Settings
from jobpulse.hub.core.clock import utcnow
from jobpulse.hub.core.db import make_engine
from jobpulse.hub.models import PIPELINE_ROW_ID, jobs_table, pipeline_table
from jobpulse.stack import Ports, Stack, StackError, influxdb_major, otlp_headers

DISKS = 4
DISK_SIZE = 2 * 2**40
JOB_RATE = 100_000_000  # bytes per second per job, over its four disks
START_PERCENT = 1
ADVANCE_EVERY = 1.0
POINTS_PER_EXPORT = len(sc.JOB_METRICS) + len(sc.DISK_METRICS) * DISKS
# The agent's default cadence (docs/metrics.md), passed explicitly so the bench states what it ran.
EXPORT_INTERVAL = 4.5
RECONCILE_INTERVAL = Settings.model_fields["reconcile_interval"].default

DEFAULT_STEPS = "500,1000,1500,2000,2500,3000,4000,5000,7500,10000,15000,20000"
FRESHNESS_LIMIT = 10.0
SATURATED = 0.9
# Batches (up to 8 192 points each) the collector's sending queue must gain over a hold to count as
# falling behind: one or two are the batch in flight when the gauge is read.
QUEUE_BEHIND = 5
GOAL = 10_000
OTHER_WORK = 25.0  # % of one core used by neither the stack nor the agents, above which the report warns
STAGES = ("agents", "collector", "influxdb", "mariadb", "hub")
# What the hub's reconcile loop logs when a cycle fails (jobpulse.hub.reconciler), then the reason.
FAILED_CYCLE = "reconcile cycle failed"

# What would lift each stage's ceiling, printed with the result (the figures come from the run).
LIFT = {
    "agents": "the agents here share the pipeline's cores; in production they run on the job hosts. On the "
              "agent side, fewer points per export (22 per 4-disk job: 10 job gauges, 3 per disk) or skipping "
              "unchanged gauges would cut the collect+encode cost, which grows with jobs x points",
    "collector": "the collector decodes OTLP and encodes line protocol for every point: give it more cores, "
                 "run a second one behind a load balancer, or send fewer points per job",
    "influxdb-write": "InfluxDB's write path (22 series per job): fewer series per job, larger write batches, "
                      "more cores or a faster disk for InfluxDB",
    "influxdb": "InfluxDB's CPU goes to writing 22 series per job and to answering the hub's raw-window query: "
                "fewer series per job, a narrower reconcile window, or more cores for InfluxDB",
    "influxdb-read": "the hub's cycle query reads every raw point of a window reaching reconcile_overlap (15 s) "
                     "behind the newest point: ~4 points of each of a job's 22 series. A narrower overlap, "
                     "last() per series where it is the cheaper (make bench-hub compares both), or fewer "
                     "series per job would shorten InfluxDB's answer, which grows with jobs x points",
    "mariadb": "the reconciler rewrites each changed job row and its 4 disk rows every cycle: writing only "
               "rows whose shown figures changed, or fewer disk rows, would cut MariaDB's load",
    "hub": "the reconciler is one Python thread that parses every raw point of its window and plans every "
           "job each cycle: a narrower window, last() per series, or parsing without per-point Python objects "
           "would lift it",
}


# --- agent worker processes ---------------------------------------------------------------------------

def _worker(conn, index: int, processes: int, exporters: int, run_id: str, endpoint: str, spool_dir: str) -> None:
    """One agent process: ``exporters`` Telemetry pipelines of the real library (each its own MeterProvider,
    OTLP exporter and spool), its jobs dealt over them and advanced every second, commands from ``conn``."""
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
    from jobpulse.agent import DiskStatus, Phase, Spool, configure

    try:
        # Independent agents export at unrelated moments: pipelines started together would export in
        # lockstep, and the newest point would age by a whole interval between their exports. Exporter k of
        # process i starts at slot k * processes + i of the interval.
        slot = EXPORT_INTERVAL / (processes * exporters)
        t0 = time.monotonic()
        counts = _ExportCounts()
        telemetries = []
        for k in range(exporters):
            time.sleep(max(0.0, t0 + (k * processes + index) * slot - time.monotonic()))
            telemetry = configure(spool=Spool(Path(spool_dir) / f"spool-{index}-{k}.db"),
                                  export_interval_millis=EXPORT_INTERVAL * 1000)
            _count_exports(telemetry.exporter, counts, k)
            telemetries.append(telemetry)
        jobs = []
        step = JOB_RATE // DISKS
        next_tick = time.monotonic() + ADVANCE_EVERY
        while True:
            if conn.poll(max(0.0, next_tick - time.monotonic())):
                command, arg = conn.recv()
                if command == "scale":
                    while len(jobs) < arg:
                        n = len(jobs)
                        job = telemetries[n % exporters].start_job(
                            "backup", f"cap-vm-{index}-{n}", [DISK_SIZE] * DISKS, job_id=f"cap-{run_id}-{index}-{n:05d}")
                        job.set_phase(Phase.TRANSFERRING)
                        for d in range(DISKS):
                            job.set_disk_status(d, DiskStatus.TRANSFERRING)
                            job.advance(d, DISK_SIZE * START_PERCENT // 100)
                        jobs.append(job)
                    conn.send(len(jobs))
                elif command == "stats":
                    conn.send(counts.read())
                elif command == "stop":
                    break
            if time.monotonic() >= next_tick:
                for job in jobs:
                    for d in range(DISKS):
                        job.advance(d, step)
                # A late tick is not made up: the bench must not burst to catch up.
                next_tick = max(next_tick + ADVANCE_EVERY, time.monotonic())
        for telemetry in telemetries:
            telemetry.shutdown(timeout=2.0)
    except (KeyboardInterrupt, EOFError, BrokenPipeError):
        pass


class _ExportCounts:
    """Points and timings of every export of one process (the library's exporter counts batches; the
    collector counts points)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ok_points = self.failed_points = 0
        self.starts: list[tuple[int, float]] = []  # (exporter, monotonic start), since the last read
        self.durations: list[float] = []

    def record(self, exporter: int, points: int, success: bool, start: float, duration: float) -> None:
        with self._lock:
            if success:
                self.ok_points += points
            else:
                self.failed_points += points
            self.starts.append((exporter, start))
            self.durations.append(duration)

    def read(self) -> dict:
        with self._lock:
            out = {"ok_points": self.ok_points, "failed_points": self.failed_points, "starts": self.starts,
                   "durations": self.durations}
            self.starts, self.durations = [], []
            return out


def _count_exports(exporter, counts: _ExportCounts, exporter_index: int) -> None:
    from opentelemetry.sdk.metrics.export import MetricExportResult

    inner = exporter.export

    def export(metrics_data, *args, **kwargs):
        points = sum(len(m.data.data_points) for rm in metrics_data.resource_metrics
                     for sm in rm.scope_metrics for m in sm.metrics)
        start = time.monotonic()
        result = inner(metrics_data, *args, **kwargs)
        counts.record(exporter_index, points, result is MetricExportResult.SUCCESS, start, time.monotonic() - start)
        return result

    exporter.export = export  # the periodic reader and forced flushes both call the instance's export


class Agents:
    """The worker processes, each with its pipe."""

    def __init__(self, processes: int, exporters: int, run_id: str, endpoint: str, spool_dir: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.procs, self.conns = [], []
        for i in range(processes):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_worker, args=(child, i, processes, exporters, run_id, endpoint, spool_dir),
                            name=f"agent-{i}", daemon=True)
            p.start()
            self.procs.append(p)
            self.conns.append(parent)

    def _all(self, command: str, args: list, timeout: float = 600.0) -> list:
        for conn, arg in zip(self.conns, args):
            conn.send((command, arg))
        out = []
        for i, conn in enumerate(self.conns):
            if not conn.poll(timeout):
                raise SystemExit(f"agent process {i} did not answer {command!r} within {timeout:.0f} s")
            try:
                out.append(conn.recv())
            except EOFError:
                raise SystemExit(f"agent process {i} died (exit code {self.procs[i].exitcode})") from None
        return out

    def scale(self, jobs: int) -> int:
        n = len(self.procs)
        return sum(self._all("scale", [jobs // n + (i < jobs % n) for i in range(n)]))

    def stats(self) -> list[dict]:
        return self._all("stats", [None] * len(self.procs))

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        for conn in self.conns:
            try:
                conn.send(("stop", None))
            except (BrokenPipeError, OSError):
                pass
        for p in self.procs:
            p.join(15)
            if p.is_alive():
                p.terminate()
                p.join(5)


# --- measuring ----------------------------------------------------------------------------------------

def tree_cpu(pid: int) -> tuple[float, float]:
    """Of ``pid`` and its live descendants: user + system CPU seconds, and seconds their live threads
    waited runnable for a core (the scheduler's run-queue delay, /proc/<pid>/task/<tid>/schedstat)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0, 0.0
    cpu = wait = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            cpu += t.user + t.system
        except psutil.Error:
            continue
        for task in Path(f"/proc/{p.pid}/task").glob("*/schedstat"):
            try:
                wait += int(task.read_text().split()[1]) / 1e9
            except (OSError, IndexError, ValueError):
                pass
    return cpu, wait


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot. Guest time is already in user time; steal is
    the hypervisor's, not ours."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def server_pid(server) -> int:
    pid = server.pid
    if pid is None:
        raise RuntimeError(f"{type(server).__name__} is not running")
    return pid


class Probe:
    """CPU of every stage, the collector's own counters, and the hub's state in MariaDB."""

    def __init__(self, stack: Stack, agents: Agents) -> None:
        self.stack = stack
        self.pids = {"collector": [server_pid(stack.collector)], "influxdb": [server_pid(stack.influxdb)],
                     "mariadb": [server_pid(stack.mariadb)], "hub": [server_pid(stack.hub)],
                     "agents": agents.pids()}
        self.engine = make_engine(stack.mariadb.url("jobpulse"), pool_size=1)
        self.metrics_url = f"http://127.0.0.1:{stack.ports.collector_metrics}/metrics"

    def cpu(self) -> dict:
        out: dict = {"cpu": {}, "wait": {}}
        for stage, pids in self.pids.items():
            each = [tree_cpu(p) for p in pids]
            out["cpu"][stage] = sum(c for c, _ in each)
            out["wait"][stage] = sum(w for _, w in each)
            if stage == "agents":
                out["per_agent"] = [c for c, _ in each]
        out["machine"] = machine_busy()
        out["t"] = time.monotonic()
        return out

    def collector(self) -> dict[str, float]:
        """The collector's own metrics (Prometheus text), summed over labels, the debug exporter left out."""
        text = httpx.get(self.metrics_url, timeout=10).text
        out: dict[str, float] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            series, _, value = line.rpartition(" ")
            name = series.split("{", 1)[0]
            if 'exporter="debug"' in series or "metric_points" not in name and "queue_size" not in name:
                continue
            key = name.removeprefix("otelcol_").removesuffix("_total")
            out[key] = out.get(key, 0.0) + float(value)
        return out

    def pipeline(self):
        """(newest reconciled point, last reconcile) as the hub recorded them."""
        with self.engine.connect() as conn:
            row = conn.execute(select(pipeline_table.c.newest_point_at, pipeline_table.c.last_reconcile_at)
                               .where(pipeline_table.c.id == PIPELINE_ROW_ID)).first()
        return (row[0], row[1]) if row else (None, None)

    def seen(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(jobs_table)
                                .where(jobs_table.c.last_telemetry_at.is_not(None))).scalar_one()

    def telemetry_times(self) -> list:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(jobs_table.c.last_telemetry_at))]

    def influx_queries(self) -> tuple[float, int]:
        """InfluxDB's own account of its /query requests: (seconds spent answering, requests). The hub's
        reconciler is the only client that queries during a hold."""
        if self.stack.influx_major == 2:
            seconds, count = 0.0, 0
            for line in httpx.get(f"{self.stack.influxdb.url}/metrics", timeout=10).text.splitlines():
                if 'path="/query"' not in line:
                    continue
                if line.startswith("http_api_request_duration_seconds_sum"):
                    seconds += float(line.rpartition(" ")[2])
                elif line.startswith("http_api_request_duration_seconds_count"):
                    count += int(float(line.rpartition(" ")[2]))
            return seconds, count
        stats = httpx.get(f"{self.stack.influxdb.url}/debug/vars", timeout=10).json()
        httpd = [v["values"] for v in stats.values() if isinstance(v, dict) and v.get("name") == "httpd"]
        return (sum(v.get("queryReqDurationNs", 0) for v in httpd) / 1e9,
                sum(v.get("queryReq", 0) for v in httpd))

    def hub_failures(self) -> tuple[int, str]:
        """Failed reconcile cycles the hub has logged so far, and the reason of the last one."""
        try:
            return failed_cycles(self.stack.hub.log_file.read_text(errors="replace"))
        except OSError:
            return 0, ""

    def close(self) -> None:
        self.engine.dispose()


def failed_cycles(log: str) -> tuple[int, str]:
    """How many reconcile cycles a hub log reports as failed, and the last one's reason."""
    lines = [line for line in log.splitlines() if FAILED_CYCLE in line]
    last = lines[-1].split(FAILED_CYCLE, 1)[1].strip() if lines else ""
    return len(lines), last.removeprefix("(").split(");", 1)[0]


def percentile(values, q: float) -> float | None:
    """The q-th percentile (nearest rank) of ``values``, None when there are none."""
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


@dataclass
class Step:
    jobs: int
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # stage -> % of one core
    wait: dict[str, float] = field(default_factory=dict)  # stage -> run-queue wait, % of one core
    machine: float = 0.0  # % of one core
    agent_max: float = 0.0  # the busiest agent process, % of one core
    freshness: list[float] = field(default_factory=list)
    # Per freshness sample, the newest point's age when the cycle that read it began: the write path's part
    # (agents' export, collector, InfluxDB's write); the rest of the sample is the hub's.
    upstream: list[float] = field(default_factory=list)
    job_ages: list[float] = field(default_factory=list)
    cycles: int = 0
    cycle_max: float | None = None  # the longest cycle seen: the largest gap between cycles less the pause
    dropped: dict[str, int] = field(default_factory=dict)  # stage -> points
    unseen: int = 0
    behind: int = 0
    written_rate: float = 0.0  # points/s the collector wrote to InfluxDB
    agent_rate: float = 0.0  # points/s the agents exported
    queue_growth: float = 0.0
    export_p95: float | None = None
    export_period: float | None = None
    query_seconds: float | None = None  # InfluxDB's mean time answering the hub's cycle query in the hold
    failed_cycles: int = 0  # reconcile cycles the hub logged as failed, from the step's start
    failure: str = ""  # the last one's reason

    @property
    def freshness_p50(self):
        return percentile(self.freshness, 50)

    @property
    def freshness_p95(self):
        return percentile(self.freshness, 95)

    def worst_parts(self) -> tuple[float, float] | None:
        """Over the freshness samples at or above p95: the mean write-path part and the mean hub part."""
        p95 = self.freshness_p95
        worst = [(f, u) for f, u in zip(self.freshness, self.upstream) if p95 is not None and f >= p95]
        if not worst:
            return None
        up = statistics.mean(u for _, u in worst)
        return up, statistics.mean(f for f, _ in worst) - up

    @property
    def cycle_period(self):
        return self.seconds / self.cycles if self.cycles else None

    @property
    def cycle_seconds(self):
        """One reconcile cycle's own duration: its period less the pause between cycles."""
        period = self.cycle_period
        return None if period is None else max(0.0, period - RECONCILE_INTERVAL)

    @property
    def other(self) -> float:
        return max(0.0, self.machine - sum(self.cpu.values()))

    @property
    def passed(self) -> bool:
        p95 = self.freshness_p95
        return (p95 is not None and p95 <= FRESHNESS_LIMIT and not any(self.dropped.values())
                and self.unseen == 0 and self.behind == 0)


class Limit(NamedTuple):
    stage: str
    why: str
    lift: str  # a key of LIFT


def limiting_stage(step: Step, cores: int, processes: int) -> Limit:
    """The stage that limits ``step``, why, and what would lift it, by the rule in the module's docstring."""
    drops = {stage: n for stage, n in step.dropped.items() if n}
    if drops:
        stage = max(drops, key=drops.get)
        return Limit(stage, f"{drops[stage]} points dropped at the {stage}",
                     "influxdb-write" if stage == "influxdb" else stage)
    if step.failed_cycles:
        # A failed cycle retries with a wider window (the newest point it saw grows older), so once InfluxDB
        # cannot answer within the hub's timeout the hub does not catch up.
        stage = ("influxdb" if "Influx" in step.failure else
                 "mariadb" if "Operational" in step.failure or "Interface" in step.failure else "hub")
        return Limit(stage, f"{step.failed_cycles} of the hub's reconcile cycles failed (last: {step.failure})",
                     "influxdb-read" if stage == "influxdb" else stage)
    if step.queue_growth >= QUEUE_BEHIND:
        return Limit("influxdb", f"the collector's sending queue grew by {step.queue_growth:.0f} batches "
                     "(InfluxDB's writes fall behind)", "influxdb-write")
    if step.cpu.get("hub", 0.0) >= SATURATED * 100:
        return Limit("hub", f"the hub used {step.cpu['hub']:.0f} % of one core (its reconciler is one Python "
                     "thread)", "hub")
    if step.agent_max >= SATURATED * 100:
        return Limit("agents", f"an agent process used {step.agent_max:.0f} % of one core", "agents")
    if step.export_p95 is not None and step.export_p95 >= EXPORT_INTERVAL:
        return Limit("agents", f"an agent's export took {step.export_p95:.1f} s at p95, longer than the "
                     f"{EXPORT_INTERVAL:g} s interval", "agents")
    saturated = step.machine >= SATURATED * 100 * cores
    busy = f" (the machine was saturated: {step.machine:.0f} % of {cores * 100} %)" if saturated else ""
    parts = step.worst_parts()
    if step.freshness_p95 is not None and step.freshness_p95 > FRESHNESS_LIMIT and parts and parts[0] > parts[1]:
        up, hub = parts
        path = max(("agents", "collector", "influxdb"), key=lambda s: step.cpu.get(s, 0.0) + step.wait.get(s, 0.0))
        return Limit(path, f"the worst 5 % of freshness samples were {up:.1f} s old when the hub's cycle began and "
                     f"{hub:.1f} s more at the hub: the write path lags; the {path} was its busiest stage "
                     f"({step.cpu.get(path, 0.0):.0f} % CPU, {step.wait.get(path, 0.0):.0f} % waiting for a core)"
                     f"{busy}", "influxdb-write" if path == "influxdb" else path)
    cycle = step.cycle_seconds
    slow = ""
    if cycle and step.query_seconds is not None and cycle >= RECONCILE_INTERVAL:
        # The hub's cycles run long: the largest part of a cycle limits the freshness. The hub's CPU and
        # run-queue wait are per cycle period (nothing runs in the pause); what is left is the hub blocked
        # outside its InfluxDB query: its transaction on MariaDB.
        period = step.cycle_period
        query = min(cycle, step.query_seconds)
        hub_cpu = step.cpu.get("hub", 0.0) / 100 * period
        hub_wait = step.wait.get("hub", 0.0) / 100 * period
        rest = max(0.0, cycle - query - hub_cpu - hub_wait)
        shares = {"influxdb": query, "hub": hub_cpu, "cores": hub_wait, "mariadb": rest}
        largest = max(shares, key=shares.get)
        slow = (f"the hub's reconcile cycles took {cycle:.1f} s (InfluxDB answering its query {query:.1f} s, the "
                f"hub's CPU {hub_cpu:.1f} s, waiting for a core {hub_wait:.1f} s, the rest {rest:.1f} s)")
        if largest == "influxdb":
            return Limit("influxdb", slow + busy, "influxdb-read")
        if largest == "hub":
            return Limit("hub", slow + busy, "hub")
        if largest == "mariadb":
            return Limit("mariadb", f"{slow}: the rest is the hub's transaction on MariaDB{busy}", "mariadb")
        saturated = True  # the hub waited for a core longest: the machine's cores are the limit
    if saturated:
        stage = max(STAGES, key=lambda s: step.cpu.get(s, 0.0))
        state = "saturated" if step.machine >= SATURATED * 100 * cores else "busy"
        return Limit(stage, f"{slow + '; ' if slow else ''}the machine was {state} ({step.machine:.0f} % of "
                     f"{cores * 100} %); the {stage} used the most CPU ({step.cpu.get(stage, 0.0):.0f} %)", stage)
    usable = {"hub": 1, "agents": min(processes, cores)}
    share = {s: step.cpu.get(s, 0.0) / (100 * usable.get(s, cores)) for s in STAGES}
    stage = max(share, key=share.get)
    return Limit(stage, f"no stage saturated; the {stage} used the largest share of what it can use "
                 f"({share[stage]:.0%})", stage)


# --- one run --------------------------------------------------------------------------------------------

def _delta(after: dict, before: dict, key: str) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


def measure(probe: Probe, agents: Agents, jobs: int, hold: float, settle_timeout: float, say) -> Step:
    """Scale to ``jobs``, settle, hold: one Step."""
    step = Step(jobs)
    col0, ag0, failed0 = probe.collector(), agents.stats(), probe.hub_failures()[0]
    t0 = time.monotonic()
    have = agents.scale(jobs)
    say(f"  {have} jobs started in {time.monotonic() - t0:.1f} s; waiting for the hub to see them ...")
    deadline = time.monotonic() + settle_timeout
    seen = probe.seen()
    while seen < jobs and time.monotonic() < deadline:
        time.sleep(1)
        seen = probe.seen()
    say(f"  hub has {seen} of {jobs} jobs after {time.monotonic() - t0:.1f} s; settling {2 * EXPORT_INTERVAL:.0f} s,"
        f" then holding {hold:.0f} s ...")
    time.sleep(2 * EXPORT_INTERVAL)

    ag1 = agents.stats()  # resets the export timings: those read at the end are the hold's
    col1, q0, cpu0 = probe.collector(), probe.influx_queries(), probe.cpu()
    hold_start = utcnow()
    reconciles = set()
    end = time.monotonic() + hold
    tick = 0
    while time.monotonic() < end:
        newest, reconciled = probe.pipeline()
        now = utcnow()
        if newest is not None and reconciled is not None:
            step.freshness.append((now - newest).total_seconds())
            # A point collected after the cycle began can still reach its query: never below 0.
            step.upstream.append(max(0.0, (reconciled - newest).total_seconds()))
        reconciles.add(reconciled)
        if tick % 5 == 0:
            step.job_ages.extend((now - t).total_seconds() for t in probe.telemetry_times() if t is not None)
        tick += 1
        time.sleep(max(0.0, min(1.0, end - time.monotonic())))
    cpu1, q1, col2, ag2 = probe.cpu(), probe.influx_queries(), probe.collector(), agents.stats()
    times = probe.telemetry_times()
    failed, step.failure = probe.hub_failures()
    step.failed_cycles = failed - failed0
    if q1[1] > q0[1]:
        step.query_seconds = (q1[0] - q0[0]) / (q1[1] - q0[1])

    _apply_cpu(step, cpu0, cpu1)
    seen_cycles = sorted(reconciles - {None})
    step.cycles = max(0, len(seen_cycles) - 1)
    gaps = [(b - a).total_seconds() - RECONCILE_INTERVAL for a, b in zip(seen_cycles, seen_cycles[1:])]
    step.cycle_max = max(gaps) if gaps else None
    step.unseen = max(0, jobs - sum(1 for t in times if t is not None))
    step.behind = sum(1 for t in times if t is not None and t < hold_start)
    agent_failed = sum(b["failed_points"] - a["failed_points"] for a, b in zip(ag0, ag2))
    step.dropped = {
        # A failed export is spooled and replayed after the next success: late, and refused by the pipeline.
        # memory_limiter's refusals reach the receiver's refused count: counting the processor's too would double.
        "collector": int(agent_failed + _delta(col2, col0, "receiver_refused_metric_points")
                         + _delta(col2, col0, "receiver_failed_metric_points")),
        "influxdb": int(_delta(col2, col0, "exporter_send_failed_metric_points")
                        + _delta(col2, col0, "exporter_enqueue_failed_metric_points")),
    }
    step.written_rate = _delta(col2, col1, "exporter_sent_metric_points") / step.seconds
    step.queue_growth = max(0.0, _delta(col2, col1, "exporter_queue_size"))
    durations = [d for st in ag2 for d in st["durations"]]
    step.export_p95 = percentile(durations, 95)
    periods = []
    for st in ag2:
        by_exporter: dict[int, list[float]] = {}
        for exporter, start in st["starts"]:
            by_exporter.setdefault(exporter, []).append(start)
        for starts in by_exporter.values():
            periods += [b - a for a, b in zip(starts, starts[1:])]
    step.export_period = statistics.median(periods) if periods else None
    step.agent_rate = sum(b["ok_points"] - a["ok_points"] for a, b in zip(ag1, ag2)) / step.seconds
    return step


def _apply_cpu(step: Step, cpu0: dict, cpu1: dict) -> None:
    step.seconds = cpu1["t"] - cpu0["t"]

    def pct(a: float, b: float) -> float:
        return (b - a) / step.seconds * 100

    step.cpu = {s: pct(cpu0["cpu"][s], cpu1["cpu"][s]) for s in STAGES}
    step.wait = {s: pct(cpu0["wait"][s], cpu1["wait"][s]) for s in STAGES}
    step.agent_max = max(pct(a, b) for a, b in zip(cpu0["per_agent"], cpu1["per_agent"]))
    step.machine = pct(cpu0["machine"], cpu1["machine"])


def idle_baseline(probe: Probe, seconds: float) -> Step:
    step = Step(0)
    cpu0 = probe.cpu()
    time.sleep(seconds)
    _apply_cpu(step, cpu0, probe.cpu())
    return step


# --- report ---------------------------------------------------------------------------------------------

def _f(value, spec: str = "6.1f", none: str = "-") -> str:
    width = int(spec.split(".")[0]) if spec[0].isdigit() else 6
    return f"{value:{spec}}" if value is not None else f"{none:>{width}}"


def report(idle: Step, steps: list[Step], cores: int, processes: int, exporters: int, major: int,
           hold: float) -> None:
    print()
    print(f"InfluxDB {'2.7.12' if major == 2 else '1.x (Debian)'}; {processes} agent processes x {exporters} "
          f"exporters; {cores} cores; "
          f"{DISKS}-disk jobs, {POINTS_PER_EXPORT} points per job per export every {EXPORT_INTERVAL:g} s; "
          f"hub reconcile interval {RECONCILE_INTERVAL:g} s; hold {hold:.0f} s per step")
    print()
    first = steps[0].freshness_p95 if steps else None
    print("Freshness and points (freshness = age of the hub's newest reconciled point, seconds; baseline: the first "
          "step; worst up/hub: over the samples >= p95, the newest point's age when the hub's cycle began and the "
          "time after; points/s: sent by the agents and written to InfluxDB vs what the jobs produce)")
    print(f"{'jobs':>6} {'fresh p50':>9} {'p95':>6} {'x 1st':>6} {'worst up':>8} {'hub':>5} {'job age p95':>11} "
          f"{'cycle s':>7} {'max':>5} {'failed':>6} {'query s':>7} "
          f"{'export s p95':>12} {'period s':>8} {'sent/s':>7} {'written/s':>9} {'expected/s':>10} {'dropped':>7} {'unseen':>6} "
          f"{'behind':>6} {'result':>6}")
    for s in steps:
        ratio = s.freshness_p95 / first if first and s.freshness_p95 is not None else None
        expected = s.jobs * POINTS_PER_EXPORT / EXPORT_INTERVAL
        up, hub = s.worst_parts() or (None, None)
        print(f"{s.jobs:>6} {_f(s.freshness_p50, '9.1f')} {_f(s.freshness_p95)} {_f(ratio, '6.2f')} "
              f"{_f(up, '8.1f')} {_f(hub, '5.1f')} "
              f"{_f(percentile(s.job_ages, 95), '11.1f')} {_f(s.cycle_seconds, '7.1f')} {_f(s.cycle_max, '5.1f')} {s.failed_cycles:6d} "
              f"{_f(s.query_seconds, '7.2f')} "
              f"{_f(s.export_p95, '12.2f')} "
              f"{_f(s.export_period, '8.2f')} {s.agent_rate:7.0f} {s.written_rate:9.0f} {expected:10.0f} {sum(s.dropped.values()):7d} "
              f"{s.unseen:6d} {s.behind:6d} {'pass' if s.passed else 'FAIL':>6}")
    print()
    print(f"CPU per stage over each hold, % of one core (baseline: the idle stack, measured for {idle.seconds:.0f} s; "
          "+/1k = above idle per 1 000 jobs)")
    print(f"{'jobs':>6} " + " ".join(f"{s:>10} {'+/1k':>5}" for s in STAGES) + f" {'other':>6} {'machine':>7}")
    for s in [idle, *steps]:
        cells = []
        for stage in STAGES:
            per_k = (s.cpu[stage] - idle.cpu[stage]) / s.jobs * 1000 if s.jobs else None
            cells.append(f"{s.cpu[stage]:10.1f} {_f(per_k, '5.1f')}")
        label = f"{s.jobs:>6}" if s.jobs else f"{'idle':>6}"
        print(f"{label} " + " ".join(cells) + f" {s.other:6.1f} {s.machine:7.1f}")
    print()
    print("Waiting for a core per stage over each hold (runnable threads not running), % of one core")
    print(f"{'jobs':>6} " + " ".join(f"{s:>10}" for s in STAGES))
    for s in [idle, *steps]:
        label = f"{s.jobs:>6}" if s.jobs else f"{'idle':>6}"
        print(f"{label} " + " ".join(f"{s.wait[stage]:10.1f}" for stage in STAGES))
    print()
    other = statistics.mean(s.other for s in steps) if steps else 0.0
    if other >= OTHER_WORK:
        print(f"other work used {other:.0f} % of one core on average during the holds: every stage competed with "
              "it, so the figures above understate what this machine carries alone")
    passed = [s for s in steps if s.passed]
    # A failing step's stages may be stalled (a hub waiting on timeouts costs nothing): cost a passing one.
    for s in passed[-1:]:
        per_k = {stage: max(0.0, s.cpu[stage] - idle.cpu[stage]) / s.jobs * 1000 for stage in STAGES}
        total = sum(per_k.values())
        idle_total = sum(idle.cpu[stage] for stage in STAGES)
        if total > 0:
            fits = (cores * 100 - idle_total) / total * 1000
            need = (idle_total + total * GOAL / 1000) / 100
            print(f"the stages add {total:.0f} % of one core per 1 000 jobs at {s.jobs} jobs ("
                  + ", ".join(f"{stage} {v:.0f}" for stage, v in per_k.items())
                  + f"): by CPU alone {cores} cores hold about {fits:.0f} jobs, and {GOAL} jobs need about "
                  f"{need:.1f} cores (other work on the machine left out)")
    print()
    capacity = passed[-1].jobs if passed else 0
    if steps and not steps[-1].passed:
        stage, why, lift = limiting_stage(steps[-1], cores, processes)
        failing = steps[-1]
        reasons = []
        if failing.freshness_p95 is None or failing.freshness_p95 > FRESHNESS_LIMIT:
            reasons.append(f"freshness p95 {_f(failing.freshness_p95, '.1f')} s > {FRESHNESS_LIMIT:g} s")
        if any(failing.dropped.values()):
            reasons.append(f"{sum(failing.dropped.values())} points dropped")
        if failing.unseen or failing.behind:
            reasons.append(f"{failing.unseen} jobs unseen, {failing.behind} not updated during the hold")
        print(f"{failing.jobs} jobs failed: {'; '.join(reasons)}; limit: {why}")
        print(f"what would lift it: {LIFT[lift]}")
        if not passed:
            print(f"(the smallest step, {steps[0].jobs} jobs, already failed)")
    else:
        stage = "not reached"
        print(f"every step passed; the largest, {capacity} jobs, is a lower bound (--steps to go further)")
    print(f"goal: >= {GOAL} concurrent {DISKS}-disk jobs on one {cores}-core machine: "
          f"{'MET' if capacity >= GOAL else 'NOT MET'}")
    print(f"capacity: {capacity} concurrent jobs (limit: {stage})")


# --- command line ---------------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one plain line, not the usage block
        self.exit(2, f"{self.prog}: {message}\n")


def _steps(text: str) -> list[int]:
    try:
        steps = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of job counts: {text!r}") from None
    if not steps or any(s <= 0 for s in steps) or steps != sorted(set(steps)):
        raise argparse.ArgumentTypeError(f"job counts must be positive and increasing: {text!r}")
    return steps


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return value


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(text)


def parse_args(argv=None) -> argparse.Namespace:
    ap = _Parser(prog="bench_capacity", description=__doc__.splitlines()[0],
                 epilog="Starts a private stack under .run/bench-capacity-<pid>/ and removes it at the end.")
    ap.add_argument("--steps", type=_steps, default=_steps(DEFAULT_STEPS),
                    help=f"increasing job counts (default {DEFAULT_STEPS})")
    ap.add_argument("--hold", type=_positive, default=60.0, help="seconds measured per step (default 60)")
    ap.add_argument("--idle", type=_positive, default=20.0, help="seconds of the idle baseline (default 20)")
    ap.add_argument("--settle-timeout", type=_positive, default=120.0,
                    help="seconds to wait for the hub to see every job of a step (default 120)")
    ap.add_argument("--processes", type=_count, default=4, help="agent processes (default 4)")
    ap.add_argument("--exporters", type=_count, default=8,
                    help="Telemetry pipelines (each its own OTLP exporter) per agent process (default 8)")
    ap.add_argument("--influxdb", type=int, choices=(1, 2), default=None,
                    help="InfluxDB major version (default: $JOBPULSE_INFLUXDB, else 2)")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    try:
        major = args.influxdb or influxdb_major()
    except StackError as err:
        print(f"bench_capacity: {err}", file=sys.stderr)
        return 2
    cores = psutil.cpu_count() or 1

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {msg}", flush=True)

    stack = Stack(name=f"bench-capacity-{os.getpid()}", ports=Ports.free(), influxdb=major)
    spool = tempfile.mkdtemp(prefix="jobpulse-bench-capacity-")
    agents = probe = None
    idle, steps = None, []
    try:
        say(f"starting a private stack: InfluxDB {major}.x, MariaDB, the collector, the hub ...")
        stack.influxdb.start(build=True)
        stack.mariadb.start()
        stack.mariadb.create_database("jobpulse")
        stack.collector.start(build=True)
        stack.hub.start(stack.hub_environment())
        say(f"starting {args.processes} agent processes x {args.exporters} exporters -> {stack.collector.otlp_http} ...")
        # The workers inherit the collector's token (the OTLP spec's variable, as any agent reads it).
        os.environ["OTEL_EXPORTER_OTLP_HEADERS"] = otlp_headers(stack.collector.token)
        agents = Agents(args.processes, args.exporters, f"{os.getpid()}", stack.collector.otlp_http, spool)
        agents.stats()  # every worker is up and configured
        probe = Probe(stack, agents)
        say(f"idle baseline, {args.idle:.0f} s ...")
        idle = idle_baseline(probe, args.idle)
        for n in args.steps:
            say(f"step: {n} jobs")
            step = measure(probe, agents, n, args.hold, args.settle_timeout, say)
            steps.append(step)
            say(f"  freshness p95 {_f(step.freshness_p95, '.1f')} s, dropped {sum(step.dropped.values())}, "
                f"unseen {step.unseen}, behind {step.behind}, machine CPU {step.machine:.0f} % -> "
                f"{'pass' if step.passed else 'FAIL'}")
            if not step.passed:
                break
    except StackError as err:
        print(f"bench_capacity: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench_capacity: interrupted", file=sys.stderr)
        return 130
    finally:
        say("stopping the agents and the stack ...")
        if agents is not None:
            agents.stop()
        if probe is not None:
            probe.close()
        stack.down(say=lambda _m: None)
        shutil.rmtree(stack.home, ignore_errors=True)
        shutil.rmtree(spool, ignore_errors=True)
    report(idle, steps, cores, args.processes, args.exporters, major, args.hold)
    print(f"\n(total runtime {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
