"""Hub benchmark (``make bench-hub``): the reconcile cycle beside a naive baseline measured
in the same run, and the job-list endpoint's throughput beside /healthz's.

Private InfluxDB + MariaDB servers are started for the run (jobpulse.stack) and removed
afterwards. Points are written in the collector's real layout (tests.support.line_protocol:
measurement = metric name, resource/scope/job tags, field counter/gauge). For N = 1 000
and 10 000 jobs with 4 disks each:

  naive       one InfluxQL last() over every series of every metric (all history),
              then one UPDATE per job row and per disk row
  floor       the cycle's statements over a window holding only the newest point of each
              series, fetched and decoded, nothing else: what any cycle must at least pay
  cold        our first cycle after a start (catch-up window), all rows written
  all         our cycle when every job sent new values
  10% chg     our cycle when every job is in the window but 10 % changed
  10% rep     our cycle when only 10 % of the jobs sent telemetry since the last cycle: the
              probe finds them and only their series are read ([narrowed] on the row)

Then the hub as a subprocess (uvicorn) with 10 000 jobs stored: 50 concurrent connections
of wrk on GET /healthz and on GET /api/v1/jobs (default page of 100), with the list's default
1 s micro-cache and with it off (JOBPULSE_LIST_CACHE_SECONDS=0), with the CPU the hub and
MariaDB spend per request.

On each InfluxDB version the stack runs (--influxdb 1|2, default $JOBPULSE_INFLUXDB or 2) the
cycle's query (raw points of the window, tags as columns) is also timed, alone and with the parse
into observations, beside the same window read with last() per series and grouped by tags
(``query design``): the reconciler keeps the raw window while it is the cheapest.

At the largest size the same newest points are also written in the one-series-per-job layout of
the collector's ``metrics_schema: telegraf-prometheus-v2`` (measurement ``prometheus``, the metric
name as field: a job's 10 metrics one series, each disk's 3 another; 5 series per job against 22)
and one window of them is read (``series layout``): what the contract change the issue allows
would save on reading, before anything is built on it.

Run from the repo root as a module: python -m bench.bench_hub [--sizes ...] [--influxdb 1|2].
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import psutil
from sqlalchemy import text

from jobpulse.hub import Settings
from jobpulse.hub.core.db import make_engine
from jobpulse.hub.migrations import upgrade
from jobpulse.hub.models import disks_table, jobs_table
from jobpulse.hub.influx import (InfluxClient, cycle_query, grouped_window_query, last_per_series_query, naive_query,
                                 parse_cycle_result, quote_ident, time_literal)
from jobpulse.hub.reconciler import Reconciler
from jobpulse.hub.store import Store
from jobpulse.semconv import (ATTR_DISK_INDEX, ATTR_HOST_NAME, ATTR_SERVICE_INSTANCE_ID, DISK_METRICS, JOB_ATTRIBUTES,
                               JOB_METRICS)
from jobpulse.stack import Hub, Ports, Stack, free_port, influxdb_major
from tests.support.line_protocol import DiskPoint, JobPoint

DISKS = 4
DISK_SIZE = 10 * 2**30
BATCH = 8000


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def job_point(job_id: str, t: datetime, step: int) -> JobPoint:
    """One export of one job at ``t``, ``step`` quarter-GiB into each of its disks."""
    per_disk = min(DISK_SIZE, step * 2**28)
    done = per_disk * DISKS
    total = DISK_SIZE * DISKS
    return JobPoint(job_id, t, transferred=done, total=total, speed=1e8 + step, eta=(total - done) / 1e8,
                    duration=3600.0, machine=f"vm-{job_id[-3:]}",
                    disks=[DiskPoint(per_disk, DISK_SIZE) for _ in range(DISKS)])


def write_round(http: httpx.Client, db: str, ids: list[str], t: datetime, step: int) -> int:
    buf: list[str] = []
    n = 0
    for job_id in ids:
        buf.extend(job_point(job_id, t, step).lines())
        if len(buf) >= BATCH:
            _post(http, db, buf)
            n += len(buf)
            buf = []
    if buf:
        _post(http, db, buf)
        n += len(buf)
    return n


def _post(http: httpx.Client, db: str, lines: list[str]) -> None:
    r = http.post("/write", params={"db": db, "precision": "ns"}, content="\n".join(lines).encode())
    if r.status_code != 204:
        raise SystemExit(f"InfluxDB /write failed: {r.status_code} {r.text[:300]}")


# The measurement every point goes to in the collector's telegraf-prometheus-v2 schema
# (influxdb-observability otel2influx/metrics_telegraf_prometheus_v2.go: one line per data point,
# measurement "prometheus", the metric name as the field key, the same tags as v1).
V2_MEASUREMENT = "prometheus"


def as_v2_layout(line: str) -> str:
    """One of our v1-layout lines (measurement = metric, field counter/gauge) as the v2 schema
    writes the same data point. Our metric names and value fields hold no escaped characters."""
    measurement, rest = line.split(",", 1)
    tags, fields, stamp = rest.rsplit(" ", 2)
    key, value = fields.split(",", 1)[0].split("=", 1)
    extra = fields[len(key) + len(value) + 1:]
    return f"{V2_MEASUREMENT},{tags} {measurement}={value}{extra} {stamp}"


def write_round_v2(http: httpx.Client, db: str, ids: list[str], t: datetime, step: int) -> int:
    lines = [as_v2_layout(line) for job_id in ids for line in job_point(job_id, t, step).lines()]
    for k in range(0, len(lines), BATCH):
        _post(http, db, lines[k:k + BATCH])
    return len(lines)


def v2_window_query(since: datetime) -> str:
    """The cycle's read in the v2 layout: a statement for the job series and one for the disk
    series (a row holds every field of its series at one time; rows whose selected fields are
    all empty - the other kind's series - are not returned)."""
    window = f"time > {time_literal(since)}"
    job = ",".join(quote_ident(c) for c in [m.name for m in JOB_METRICS] + list(JOB_ATTRIBUTES)
                   + [ATTR_HOST_NAME, ATTR_SERVICE_INSTANCE_ID])
    disk = ",".join(quote_ident(c) for c in [m.name for m in DISK_METRICS] + list(JOB_ATTRIBUTES)
                    + [ATTR_DISK_INDEX, ATTR_SERVICE_INSTANCE_ID])
    return f"SELECT {job} FROM {V2_MEASUREMENT} WHERE {window};SELECT {disk} FROM {V2_MEASUREMENT} WHERE {window}"


def count_rows(payload: dict) -> int:
    return sum(len(s.get("values") or ()) for r in payload.get("results") or () for s in r.get("series") or ())


def measure_layouts(stack: Stack, settings: Settings, http: httpx.Client, ids: list[str], newest: datetime
                    ) -> dict[str, tuple[float, int]]:
    """Median seconds and rows of one window holding every job's newest export, read in our
    layout (the cycle's statements) and in the v2 layout (written here, with one older round)."""
    db = f"{settings.influx_db}_v2"
    stack.influxdb.create_database(db)
    write_round_v2(http, db, ids, newest - timedelta(seconds=870), 1)
    write_round_v2(http, db, ids, newest, 3)
    since = newest - timedelta(seconds=20)
    out = {}
    for label, database, q in (("one series per metric (ours, v1)", settings.influx_db, cycle_query(since)),
                               ("one series per job (v2 layout)", db, v2_window_query(since))):
        influx = InfluxClient.from_settings(settings.model_copy(update={"influx_db": database}))
        try:
            out[label] = (median_seconds(lambda: influx.query(q)), count_rows(influx.query(q)))
        finally:
            influx.close()
    stack.influxdb.drop_database(db)
    return out


def fill_mysql(url: str, ids: list[str], created: datetime) -> None:
    upgrade(url)
    engine = make_engine(url)
    jobs = [dict(id=i, job_type="backup", machine=f"vm-{i[-3:]}", status="pending", current_phase="pending",
                 bytes_transferred=0, total_bytes=DISK_SIZE * DISKS, transfer_speed_bps=0, progress_percent=0,
                 created_at=created, updated_at=created) for i in ids]
    disks = [dict(job_id=i, disk_index=d, size_bytes=DISK_SIZE, bytes_transferred=0, status="pending",
                  progress_percent=0) for i in ids for d in range(DISKS)]
    with engine.begin() as conn:
        for k in range(0, len(jobs), 2000):
            conn.execute(jobs_table.insert(), jobs[k:k + 2000])
        for k in range(0, len(disks), 4000):
            conn.execute(disks_table.insert(), disks[k:k + 4000])
    Store(engine).recount_jobs()  # rows put in without the hub's writer: its counts follow
    engine.dispose()


def naive_cycle(settings: Settings, url: str) -> tuple[float, float, int]:
    """The baseline: all-history last() of every series, then one UPDATE per row."""
    influx = InfluxClient.from_settings(settings)
    t0 = time.perf_counter()
    observations = parse_cycle_result(influx.query(naive_query()))
    t1 = time.perf_counter()
    influx.close()
    engine = make_engine(url)
    now = utcnow()
    rows = 0
    with engine.begin() as conn:
        for o in observations.values():
            conn.execute(text(
                "UPDATE jobs SET status=:s, current_phase=:p, bytes_transferred=:b, total_bytes=:t,"
                " transfer_speed_bps=:v, eta_seconds=:e, progress_percent=:pc, last_telemetry_at=:lt,"
                " updated_at=:u WHERE id=:id"),
                dict(s=o.status, p=o.current_phase, b=o.bytes_transferred, t=o.total_bytes, v=o.transfer_speed_bps,
                     e=o.eta_seconds, pc=min(100.0, o.progress_percent or 0), lt=o.time, u=now, id=o.job_id))
            rows += 1
            for d in o.disks:
                conn.execute(text(
                    "UPDATE job_disks SET bytes_transferred=:b, size_bytes=:t, status=:s, progress_percent=:pc"
                    " WHERE job_id=:id AND disk_index=:i"),
                    dict(b=d.bytes_transferred, t=d.size_bytes, s=d.status, id=o.job_id, i=d.disk_index,
                         pc=min(100.0, (d.bytes_transferred or 0) * 100.0 / (d.size_bytes or 1))))
                rows += 1
    t2 = time.perf_counter()
    engine.dispose()
    return t1 - t0, t2 - t1, rows


def median_seconds(run, times: int = 3) -> float:
    samples = []
    for _ in range(times):
        t0 = time.perf_counter()
        run()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


QUERY_DESIGNS = (("raw window (ours)", cycle_query), ("last() per series", last_per_series_query),
                 ("raw window, GROUP BY tags", grouped_window_query))


def query_designs(settings: Settings, since: datetime) -> dict[str, tuple[float, float]]:
    """Per design of the window's query: median seconds of the query alone and of query + parse
    into observations (each design must find every job)."""
    influx = InfluxClient.from_settings(settings)
    out = {}
    try:
        for label, build in QUERY_DESIGNS:
            q = build(since)
            out[label] = (median_seconds(lambda: influx.query(q)),
                          median_seconds(lambda: parse_cycle_result(influx.query(q))))
        return out
    finally:
        influx.close()


def floor_seconds(settings: Settings, newest: datetime) -> float:
    """The floor of a cycle: the same statements over a window holding only the newest point of
    each series, the answer fetched and decoded and nothing else (no rules, no MySQL)."""
    influx = InfluxClient.from_settings(settings)
    try:
        return median_seconds(lambda: influx.query(cycle_query(newest - timedelta(seconds=1))))
    finally:
        influx.close()


def measure_cycles(stack: Stack, n: int, http: httpx.Client, layouts: bool = False) -> dict:
    db = f"bench_{n}"
    stack.influxdb.create_database(db)
    ids = [f"bench-{n}-{i:06d}" for i in range(n)]
    now = utcnow()
    t_setup = time.perf_counter()
    lines = 0
    for step, age in ((1, 900), (2, 600)):  # history, older than any steady-state window
        lines += write_round(http, db, ids, now - timedelta(seconds=age), step)
    stack.mariadb.create_database(f"cycle_{n}")
    stack.mariadb.create_database(f"naive_{n}")
    ours_url, naive_url = stack.mariadb.url(f"cycle_{n}"), stack.mariadb.url(f"naive_{n}")
    fill_mysql(ours_url, ids, now - timedelta(hours=1))
    fill_mysql(naive_url, ids, now - timedelta(hours=1))
    settings = Settings(database_url=ours_url, influx_url=stack.influxdb.url, influx_db=db,
                        influx_token=stack.influxdb.token("hub") or None,
                        reconcile_max_lookback=3600, influx_timeout=600)
    rec = Reconciler(settings, reconciler_id=f"bench-{n}")
    res: dict = {"n": n}
    try:
        cold = rec.run_once()  # catch-up from the history
        res["cold"] = cold
        # Later rounds are stamped from the clock when written: the reconciler probes (and may
        # narrow) only windows of steady-state width, which the slow naive run must not widen.
        t3 = utcnow() - timedelta(seconds=30)
        lines += write_round(http, db, ids, t3, 3)
        tenth = ids[: n // 10]
        # naive reads everything and rewrites every row, whatever changed
        res["naive"] = naive_cycle(settings.model_copy(update={"database_url": naive_url}), naive_url)
        res["all"] = rec.run_once()
        res["floor"] = floor_seconds(settings, t3)
        res["designs"] = query_designs(settings, t3 - timedelta(seconds=20))
        if layouts:
            res["layouts"] = measure_layouts(stack, settings, http, ids, t3)
        lines += write_round(http, db, tenth, utcnow() - timedelta(seconds=20), 4)
        res["chg10"] = rec.run_once()
        lines += write_round(http, db, tenth, utcnow() - timedelta(seconds=5), 5)
        res["rep10"] = rec.run_once()
        res["idle"] = rec.run_once()
        res["lines"] = lines
        res["setup_s"] = time.perf_counter() - t_setup
        res["url"] = ours_url
        assert res["all"].written == n and res["chg10"].written == n // 10 and res["rep10"].observed == n // 10, res
    finally:
        rec.stop()
    return res


def _drive(url: str, path: str, clients: int, seconds: float, watched: dict[str, int]) -> dict:
    """``clients`` connections on ``path`` for ``seconds`` by wrk (C, Debian's package): a
    Python client costs more CPU per request than the hub (6.4 ms for a page of the list
    against the hub's 3.7 ms) and would measure itself. Beside its figures, the CPU seconds
    each ``watched`` process (name -> pid) spent per request."""
    procs = {name: psutil.Process(pid) for name, pid in watched.items()}
    before = {name: sum(p.cpu_times()[:2]) for name, p in procs.items()}
    run = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{seconds:.0f}s", "--latency", url + path],
                         capture_output=True, text=True, timeout=seconds + 60)
    after = {name: sum(p.cpu_times()[:2]) for name, p in procs.items()}
    out = run.stdout
    if run.returncode != 0 or "Requests/sec" not in out:
        raise RuntimeError(f"wrk on {path} failed: {(run.stderr or out).strip()[:300]}")
    done = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    median = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0}[median.group(2)]
    cpu = {name: (after[name] - before[name]) / max(done, 1) for name in procs}
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "median": float(median.group(1)) * scale, "errors": errors, "cpu": cpu}


def _wait_until_quiet(proc: psutil.Process, busy: float = 5.0, timeout: float = 120.0) -> None:
    """Until ``proc`` spends under ``busy`` % of a core for a second: after the cycles' writes,
    InnoDB purges and flushes for a while, and its CPU would be counted to the list's requests."""
    deadline = time.monotonic() + timeout
    while proc.cpu_percent(interval=1.0) >= busy and time.monotonic() < deadline:
        pass


def measure_http(stack: Stack, url: str, seconds: float, rounds: int = 3) -> dict:
    """Each list figure beside /healthz on the same hub process. Without the cache, ``rounds``
    alternating pairs and the median of their ratios: on 2 shared cores one pass swings by half."""
    out = {}
    _wait_until_quiet(psutil.Process(stack.mariadb.pid))
    for cache in ("1", "0"):
        hub = Hub(stack.home / f"hub-bench-{cache}", free_port())
        hub.start({"JOBPULSE_DATABASE_URL": url, **stack.influxdb.hub_environment(),
                   "JOBPULSE_RECONCILER_ENABLED": "false", "JOBPULSE_LIST_CACHE_SECONDS": cache})
        watched = {"hub": hub.pid, "MariaDB": stack.mariadb.pid}
        try:
            drive = lambda path: _drive(hub.url, path, 50, seconds, watched)  # noqa: E731
            if cache == "1":
                out["healthz"], out["jobs"] = drive("/healthz"), drive("/api/v1/jobs")
                body = httpx.get(hub.url + "/api/v1/jobs").json()
                out["page"] = (len(body["data"]), body["count"])
            else:
                pairs = [(drive("/healthz"), drive("/api/v1/jobs")) for _ in range(rounds)]
                for key, runs in (("healthz_uncached", [h for h, _ in pairs]), ("jobs_uncached", [j for _, j in pairs])):
                    out[key] = {"rps": statistics.median(r["rps"] for r in runs),
                                "median": statistics.median(r["median"] for r in runs),
                                "errors": sum(r["errors"] for r in runs),
                                "cpu": {name: statistics.median(r["cpu"][name] for r in runs) for name in watched}}
                out["uncached_ratio"] = statistics.median(j["rps"] / h["rps"] for h, j in pairs)
                out["rounds"] = rounds
        finally:
            hub.stop()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--http-seconds", type=float, default=8.0)
    ap.add_argument("--influxdb", type=int, choices=(1, 2), default=None,
                    help="InfluxDB major version (default: $JOBPULSE_INFLUXDB, else 2)")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    major = args.influxdb or influxdb_major()
    stack = Stack(name=f"bench-hub-{os.getpid()}", ports=Ports.free(), influxdb=major)
    results = []
    try:
        print(f"starting private InfluxDB {major}.x and MariaDB ...", flush=True)
        stack.influxdb.start(build=True)
        stack.mariadb.start()
        token = stack.influxdb.token("hub")
        with httpx.Client(base_url=stack.influxdb.url, timeout=120,
                          headers={"Authorization": f"Token {token}"} if token else {}) as http:
            sizes = [int(s) for s in args.sizes.split(",")]
            for n in sizes:
                print(f"filling and measuring {n} jobs x {DISKS} disks ...", flush=True)
                results.append(measure_cycles(stack, n, http, layouts=n == max(sizes)))
        print(f"hub throughput, 50 clients, {args.http_seconds:.0f} s per endpoint ...", flush=True)
        http_res = measure_http(stack, results[-1]["url"], args.http_seconds)
    finally:
        stack.down(say=lambda _m: None)
        shutil.rmtree(stack.home, ignore_errors=True)

    print()
    print(f"InfluxDB {'2.7.12' if major == 2 else '1.x (Debian)'}")
    print("Reconcile cycle (seconds; query = InfluxDB, write = MySQL)")
    print(f"{'jobs':>6} {'variant':<45} {'query':>7} {'write':>7} {'total':>7} {'observed':>9} {'written':>8} {'vs naive':>9}")
    for r in results:
        nq, nw, rows = r["naive"]
        naive_total = nq + nw
        print(f"{r['n']:>6} {'naive (all history, UPDATE per row)':<45} {nq:7.3f} {nw:7.3f} {naive_total:7.3f}"
              f" {r['n']:>9} {rows:>8} {1.0:9.2f}")
        print(f"{r['n']:>6} {'floor (newest point per series, query)':<45} {r['floor']:7.3f} {0.0:7.3f}"
              f" {r['floor']:7.3f} {'':>9} {'':>8} {r['floor'] / naive_total:9.2f}")
        for key, label in (("cold", "ours: cold start (catch-up)"), ("all", "ours: all jobs changed"),
                           ("chg10", "ours: all reported, 10% changed"),
                           ("rep10", "ours: 10% reported"), ("idle", "ours: nothing new")):
            c = r[key]
            total = c.query_seconds + c.write_seconds
            label += " [narrowed]" if c.narrowed else ""
            print(f"{r['n']:>6} {label:<45} {c.query_seconds:7.3f} {c.write_seconds:7.3f} {total:7.3f}"
                  f" {c.observed:>9} {c.written:>8} {total / naive_total:9.2f}")
    big = results[-1]
    cycle = big["all"].query_seconds + big["all"].write_seconds
    naive = sum(big["naive"][:2])
    print()
    if len(results) > 1:
        small = results[0]
        g_ours = cycle / (small["all"].query_seconds + small["all"].write_seconds)
        print(f"growth {small['n']} -> {big['n']} jobs (all changed): x{g_ours:.1f}")
    rep = (big["rep10"].query_seconds + big["rep10"].write_seconds) / cycle
    print(f"goal: 10% reporting <= 0.15 x all reporting at {big['n']} jobs: {rep:.2f} x"
          f" -> {'MET' if rep <= 0.15 else 'NOT MET'}")
    print()
    print("Query design, one window of every job's newest points (median of 3, seconds: query alone / with parse)")
    for r in results:
        designs = r["designs"]
        raw = designs[QUERY_DESIGNS[0][0]]
        cells = "   ".join(f"{label} {q:6.3f} / {qp:6.3f} ({qp / raw[1]:4.2f} x)" for label, (q, qp) in designs.items())
        print(f"{r['n']:>6} jobs: {cells}")
    layouts = big.get("layouts")
    if layouts:
        print()
        print(f"Series layout, one window of every job's newest export at {big['n']} jobs"
              " (median of 3, query alone: fetched and decoded)")
        ours = next(iter(layouts.values()))[0]
        for label, (q, rows) in layouts.items():
            print(f"  {label:<34} {q:7.3f} s  {rows:>7} rows  ({q / ours:4.2f} x ours)")
    print()
    h, j = http_res["healthz"], http_res["jobs"]
    hu, u, ru = http_res["healthz_uncached"], http_res["jobs_uncached"], http_res["uncached_ratio"]
    rc = j["rps"] / h["rps"]

    def row(path: str, r: dict, note: str) -> str:
        cpu = "  ".join(f"{name} {ms * 1000:4.2f}" for name, ms in r["cpu"].items())
        return (f"  GET {path:<14} {r['rps']:7.0f} req/s  median {r['median'] * 1000:6.1f} ms  errors {r['errors']}"
                f"  CPU ms/request: {cpu}   {note}")

    print(f"HTTP, 50 concurrent connections (wrk), {big['n']} jobs stored"
          f" (page {http_res['page'][0]} of {http_res['page'][1]})")
    print(row("/healthz", h, "(the default 1 s list micro-cache on)"))
    print(row("/api/v1/jobs", j, f"(cached: {rc:.2f} x healthz)"))
    print(row("/healthz", hu, f"(cache off, JOBPULSE_LIST_CACHE_SECONDS=0; medians of {http_res['rounds']} rounds)"))
    print(row("/api/v1/jobs", u, f"(cache off: {ru:.2f} x healthz, median of the rounds' ratios)"))
    print(f"goal: list >= 0.5 x healthz without cache: {ru:.2f} x -> {'MET' if ru >= 0.5 else 'NOT MET'}"
          f"   (with the 1 s cache: {rc:.2f} x)")
    print(f"\n(setup: {sum(x['lines'] for x in results)} lines written; total runtime {time.perf_counter() - started:.0f} s)")
    # the headline figure, last
    print(f"goal: cycle at {big['n']} jobs: {cycle:.2f} s = {cycle / naive:.2f} x naive = {cycle / big['floor']:.1f} x floor"
          f" (goal <= 0.10 x naive -> {'MET' if cycle / naive <= 0.10 else 'NOT MET'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
