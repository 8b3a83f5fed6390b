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
  10% rep     our cycle when only 10 % of the jobs sent telemetry since the last cycle

Then the hub as a subprocess (uvicorn) with 10 000 jobs stored: 50 concurrent clients
on GET /healthz and on GET /api/v1/jobs (default page of 100), with the list's default
1 s micro-cache and with it off (JOBPULSE_LIST_CACHE_SECONDS=0).

On each InfluxDB version the stack runs (--influxdb 1|2, default $JOBPULSE_INFLUXDB or 2) the
cycle's query (raw points of the window, tags as columns) is also timed, alone and with the parse
into observations, beside the same window read with last() per series and grouped by tags
(``query design``): the reconciler keeps the raw window while it is the cheapest.

Run from the repo root as a module: python -m bench.bench_hub [--sizes ...] [--influxdb 1|2].
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from jobpulse.hub import Settings
from jobpulse.hub.core.db import make_engine
from jobpulse.hub.migrations import upgrade
from jobpulse.hub.models import disks_table, jobs_table
from jobpulse.hub.influx import (InfluxClient, cycle_query, grouped_window_query, last_per_series_query, naive_query,
                                 parse_cycle_result)
from jobpulse.hub.reconciler import Reconciler
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


def measure_cycles(stack: Stack, n: int, http: httpx.Client) -> dict:
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
        lines += write_round(http, db, ids, now - timedelta(seconds=100), 3)
        tenth = ids[: n // 10]
        # naive reads everything and rewrites every row, whatever changed
        res["naive"] = naive_cycle(settings.model_copy(update={"database_url": naive_url}), naive_url)
        res["all"] = rec.run_once()
        res["floor"] = floor_seconds(settings, now - timedelta(seconds=100))
        res["designs"] = query_designs(settings, now - timedelta(seconds=120))
        lines += write_round(http, db, tenth, now - timedelta(seconds=60), 4)
        res["chg10"] = rec.run_once()
        lines += write_round(http, db, tenth, now - timedelta(seconds=5), 5)
        res["rep10"] = rec.run_once()
        res["idle"] = rec.run_once()
        res["lines"] = lines
        res["setup_s"] = time.perf_counter() - t_setup
        res["url"] = ours_url
        assert res["all"].written == n and res["chg10"].written == n // 10 and res["rep10"].observed == n // 10, res
    finally:
        rec.stop()
    return res


async def _drive(url: str, path: str, clients: int, seconds: float) -> tuple[float, float, int]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as c:
        for _ in range(3):
            await c.get(path)
        stop = time.perf_counter() + seconds

        async def worker():
            nonlocal errors
            while time.perf_counter() < stop:
                t = time.perf_counter()
                r = await c.get(path)
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - t)
                else:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    return len(latencies) / elapsed, statistics.median(latencies) if latencies else float("nan"), errors


def measure_http(stack: Stack, url: str, seconds: float, rounds: int = 3) -> dict:
    """Each list figure beside /healthz on the same hub process. Without the cache, ``rounds``
    alternating pairs and the median of their ratios: on 2 shared cores one pass swings by half."""
    out = {}
    for cache in ("1", "0"):
        hub = Hub(stack.home / f"hub-bench-{cache}", free_port())
        hub.start({"JOBPULSE_DATABASE_URL": url, **stack.influxdb.hub_environment(),
                   "JOBPULSE_RECONCILER_ENABLED": "false", "JOBPULSE_LIST_CACHE_SECONDS": cache})
        try:
            if cache == "1":
                out["healthz"] = asyncio.run(_drive(hub.url, "/healthz", 50, seconds))
                out["jobs"] = asyncio.run(_drive(hub.url, "/api/v1/jobs", 50, seconds))
                body = httpx.get(hub.url + "/api/v1/jobs").json()
                out["page"] = (len(body["data"]), body["count"])
            else:
                pairs = [(asyncio.run(_drive(hub.url, "/healthz", 50, seconds)),
                          asyncio.run(_drive(hub.url, "/api/v1/jobs", 50, seconds))) for _ in range(rounds)]
                for key, runs in (("healthz_uncached", [h for h, _ in pairs]), ("jobs_uncached", [j for _, j in pairs])):
                    out[key] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
                                sum(r[2] for r in runs))
                out["uncached_ratio"] = statistics.median(j[0] / h[0] for h, j in pairs)
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
            for n in [int(s) for s in args.sizes.split(",")]:
                print(f"filling and measuring {n} jobs x {DISKS} disks ...", flush=True)
                results.append(measure_cycles(stack, n, http))
        print(f"hub throughput, 50 clients, {args.http_seconds:.0f} s per endpoint ...", flush=True)
        http_res = measure_http(stack, results[-1]["url"], args.http_seconds)
    finally:
        stack.down(say=lambda _m: None)
        shutil.rmtree(stack.home, ignore_errors=True)

    print()
    print(f"InfluxDB {'2.7.12' if major == 2 else '1.x (Debian)'}")
    print("Reconcile cycle (seconds; query = InfluxDB, write = MySQL)")
    print(f"{'jobs':>6} {'variant':<34} {'query':>7} {'write':>7} {'total':>7} {'observed':>9} {'written':>8} {'vs naive':>9}")
    for r in results:
        nq, nw, rows = r["naive"]
        naive_total = nq + nw
        print(f"{r['n']:>6} {'naive (all history, UPDATE per row)':<34} {nq:7.3f} {nw:7.3f} {naive_total:7.3f}"
              f" {r['n']:>9} {rows:>8} {1.0:9.2f}")
        print(f"{r['n']:>6} {'floor (newest point per series, query)':<34} {r['floor']:7.3f} {0.0:7.3f}"
              f" {r['floor']:7.3f} {'':>9} {'':>8} {r['floor'] / naive_total:9.2f}")
        for key, label in (("cold", "ours: cold start (catch-up)"), ("all", "ours: all jobs changed"),
                           ("chg10", "ours: all reported, 10% changed"),
                           ("rep10", "ours: 10% reported"), ("idle", "ours: nothing new")):
            c = r[key]
            total = c.query_seconds + c.write_seconds
            print(f"{r['n']:>6} {label:<34} {c.query_seconds:7.3f} {c.write_seconds:7.3f} {total:7.3f}"
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
    print()
    h, j = http_res["healthz"], http_res["jobs"]
    hu, u, ru = http_res["healthz_uncached"], http_res["jobs_uncached"], http_res["uncached_ratio"]
    rc = j[0] / h[0]
    print(f"HTTP, 50 concurrent clients, {big['n']} jobs stored (page {http_res['page'][0]} of {http_res['page'][1]})")
    print(f"  GET /healthz      {h[0]:8.0f} req/s  median {h[1] * 1000:6.1f} ms  errors {h[2]}"
          "   (hub with the default 1 s list micro-cache)")
    print(f"  GET /api/v1/jobs  {j[0]:8.0f} req/s  median {j[1] * 1000:6.1f} ms  errors {j[2]}"
          f"   (cached: {rc:.2f} x healthz)")
    print(f"  GET /healthz      {hu[0]:8.0f} req/s  median {hu[1] * 1000:6.1f} ms  errors {hu[2]}"
          f"   (hub with the cache off, JOBPULSE_LIST_CACHE_SECONDS=0; medians of {http_res['rounds']} rounds)")
    print(f"  GET /api/v1/jobs  {u[0]:8.0f} req/s  median {u[1] * 1000:6.1f} ms  errors {u[2]}"
          f"   (cache off: {ru:.2f} x healthz, median of the rounds' ratios)")
    print(f"goal: list >= 0.5 x healthz without cache: {ru:.2f} x -> {'MET' if ru >= 0.5 else 'NOT MET'}"
          f"   (with the 1 s cache: {rc:.2f} x)")
    print(f"\n(setup: {sum(x['lines'] for x in results)} lines written; total runtime {time.perf_counter() - started:.0f} s)")
    # the headline figure, last
    print(f"goal: cycle at {big['n']} jobs: {cycle:.2f} s = {cycle / naive:.2f} x naive = {cycle / big['floor']:.1f} x floor"
          f" (goal <= 0.10 x naive -> {'MET' if cycle / naive <= 0.10 else 'NOT MET'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
