"""Hub benchmark (``make bench-hub``): the reconcile cycle beside a naive baseline measured
in the same run, and the job-list endpoint's throughput beside /healthz's.

Private InfluxDB + MariaDB servers are started for the run (jobpulse.stack) and removed
afterwards. Points are written in the collector's real layout (tests.support.line_protocol:
measurement = metric name, resource/scope/job tags, field counter/gauge). For N = 1 000
and 10 000 jobs with 4 disks each:

  naive       one InfluxQL last() over every series of every metric (all history),
              then one UPDATE per job row and per disk row
  cold        our first cycle after a start (catch-up window), all rows written
  all         our cycle when every job sent new values
  10% chg     our cycle when every job is in the window but 10 % changed
  10% rep     our cycle when only 10 % of the jobs sent telemetry since the last cycle

Then the hub as a subprocess (uvicorn) with 10 000 jobs stored: 50 concurrent clients
on GET /healthz and on GET /api/v1/jobs (default page of 100), with the list's default
1 s micro-cache and with it off (JOBPULSE_LIST_CACHE_SECONDS=0).

On each InfluxDB version the stack runs (--influxdb 1|2, default $JOBPULSE_INFLUXDB or 2) the
cycle's query (raw points of the window) is also timed beside the same window read with last() per
series (``query design``): the reconciler keeps the raw window while it is the cheaper on both.

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
from jobpulse.hub.influx import InfluxClient, cycle_query, last_per_series_query, naive_query, parse_cycle_result
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


def query_designs(settings: Settings, since: datetime) -> tuple[float, float]:
    """Median seconds of the cycle's raw-window query and of last() per series over the same window."""
    influx = InfluxClient.from_settings(settings)
    try:
        return (median_seconds(lambda: influx.query(cycle_query(since))),
                median_seconds(lambda: influx.query(last_per_series_query(since))))
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


def measure_http(stack: Stack, url: str, seconds: float) -> dict:
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
                out["jobs_uncached"] = asyncio.run(_drive(hub.url, "/api/v1/jobs", 50, seconds))
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
        for key, label in (("cold", "ours: cold start (catch-up)"), ("all", "ours: all jobs changed"),
                           ("chg10", "ours: all reported, 10% changed"),
                           ("rep10", "ours: 10% reported"), ("idle", "ours: nothing new")):
            c = r[key]
            total = c.query_seconds + c.write_seconds
            print(f"{r['n']:>6} {label:<34} {c.query_seconds:7.3f} {c.write_seconds:7.3f} {total:7.3f}"
                  f" {c.observed:>9} {c.written:>8} {total / naive_total:9.2f}")
    big = results[-1]
    ratio = (big["all"].query_seconds + big["all"].write_seconds) / sum(big["naive"][:2])
    print()
    print(f"goal: our cycle <= 0.5 x naive at {big['n']} jobs: {ratio:.2f} x -> {'MET' if ratio <= 0.5 else 'NOT MET'}")
    if len(results) > 1:
        small = results[0]
        g_ours = (big["all"].query_seconds + big["all"].write_seconds) / (small["all"].query_seconds + small["all"].write_seconds)
        g_rep = (big["rep10"].query_seconds + big["rep10"].write_seconds) / (big["all"].query_seconds + big["all"].write_seconds)
        print(f"growth {small['n']} -> {big['n']} jobs (all changed): x{g_ours:.1f};"
              f" 10% reported vs all at {big['n']}: {g_rep:.2f} x")
    print()
    print("Query design, one window of every job's newest points (median of 3, seconds)")
    for r in results:
        raw, last = r["designs"]
        print(f"{r['n']:>6} jobs: raw window (ours) {raw:7.3f}   last() per series {last:7.3f}   "
              f"last()/raw {last / raw:5.2f} x -> {'raw' if raw <= last else 'last()'} is cheaper")
    print()
    h, j, u = http_res["healthz"], http_res["jobs"], http_res["jobs_uncached"]
    print(f"HTTP, 50 concurrent clients, {big['n']} jobs stored (page {http_res['page'][0]} of {http_res['page'][1]})")
    print(f"  GET /healthz      {h[0]:8.0f} req/s  median {h[1] * 1000:6.1f} ms  errors {h[2]}")
    print(f"  GET /api/v1/jobs  {j[0]:8.0f} req/s  median {j[1] * 1000:6.1f} ms  errors {j[2]}"
          "   (default: 1 s list micro-cache)")
    print(f"  GET /api/v1/jobs  {u[0]:8.0f} req/s  median {u[1] * 1000:6.1f} ms  errors {u[2]}"
          f"   (cache off: {u[0] / h[0]:.2f} x healthz)")
    r = j[0] / h[0]
    print(f"goal: list >= 0.3 x healthz: {r:.2f} x -> {'MET' if r >= 0.3 else 'NOT MET'}")
    print(f"\n(setup: {sum(x['lines'] for x in results)} lines written; total runtime {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
