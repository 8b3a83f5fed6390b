"""Agent benchmark (not a test): hot-path cost and copy throughput with telemetry on vs off.

Run from the repo root: python -m bench.bench_agent   (make bench-agent). The last line is
`ratio: N`, N = the SDK's Counter.add median ns / jobpulse advance median ns.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from jobpulse import semconv as sc
from jobpulse.agent import configure
from tests.support.disks import make_disks
from tests.support.otlp_sink import OtlpSink

CALLS = 200_000
REPEATS = 15
DISKS = 3
# Each copy must run for seconds, not a fraction of one, or fixed start-up and final-flush
# costs swamp a 1 % comparison.
DISK_MB = int(os.environ.get("JOBPULSE_BENCH_DISK_MB", "1024"))
ROUNDS = int(os.environ.get("JOBPULSE_BENCH_ROUNDS", "5"))


def per_call_ns(stmt: str, env: dict) -> float:
    timer = timeit.Timer(stmt, globals=env)
    runs = [timer.timeit(CALLS) / CALLS * 1e9 for _ in range(REPEATS)]
    return statistics.median(runs)


def hot_path() -> tuple[float, float]:
    tel = configure(reader=InMemoryMetricReader(), watch_interval=0.2)
    job = tel.start_job("backup", "bench-vm", [1 << 60] * DISKS, job_id="bench-hot")
    advance_ns = per_call_ns("advance(1, 65536)", {"advance": job.advance})
    tel.shutdown()

    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    counter = provider.get_meter("bench").create_counter("bench.bytes", unit="By")
    attrs = {sc.ATTR_JOB_ID: "bench-hot", sc.ATTR_JOB_TYPE: "backup", sc.ATTR_MACHINE: "bench-vm",
             sc.ATTR_DISK_INDEX: 1}
    add_ns = per_call_ns("add(65536, attrs)", {"add": counter.add, "attrs": attrs})
    provider.shutdown()
    return advance_ns, add_ns


def copy_once(sources: list[Path], dest: Path, telemetry: bool, sink_url: str, spool: str) -> tuple[float, float]:
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": sink_url, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
           "JOBPULSE_SPOOL_DIR": spool}
    cmd = [sys.executable, "-m", "jobpulse.agent.cli", "copy", *map(str, sources), "--dest", str(dest),
           "--no-progress", "--summary-json"]
    if not telemetry:
        cmd.append("--no-telemetry")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if p.returncode != 0:
        raise SystemExit(f"copy failed: {p.stderr.strip()}")
    s = json.loads(p.stdout.strip().splitlines()[-1])
    return s["bytes_transferred"] / s["duration_seconds"], s["duration_seconds"]


def main(argv=None) -> None:
    argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=f"Environment: JOBPULSE_BENCH_DISK_MB (MiB per disk, default 1024), JOBPULSE_BENCH_ROUNDS "
               f"(default 5). {DISKS} disks are copied.").parse_args(argv)
    advance_ns, add_ns = hot_path()
    print(f"advance (jobpulse, local per-thread sum): median {advance_ns:8.1f} ns/call")
    print(f"Counter.add (OTel SDK, 4 attributes):     median {add_ns:8.1f} ns/call")

    sink = OtlpSink(keep=False)  # counts the exports, decodes nothing: no extra cost on the agent's side
    with tempfile.TemporaryDirectory(prefix="jobpulse-bench-") as tmp:
        root = Path(tmp)
        sources = list(make_disks(root / "src", [DISK_MB << 20] * DISKS).paths)
        dest = root / "dest"
        dest.mkdir()
        spool = str(root / "spool")
        copy_once(sources, dest, True, sink.url, spool)  # warm the page cache and the interpreter
        on, off = [], []
        for r in range(ROUNDS):
            order = (True, False) if r % 2 == 0 else (False, True)
            for telemetry in order:
                speed, _ = copy_once(sources, dest, telemetry, sink.url, spool)
                (on if telemetry else off).append(speed)
    sink.close()
    mib = 1024 * 1024
    on_m, off_m = statistics.median(on), statistics.median(off)
    slowdown = (off_m - on_m) / off_m * 100
    print(f"copy {DISKS} x {DISK_MB} MiB, {ROUNDS} alternating rounds, median throughput:")
    print(f"  telemetry off: {off_m / mib:8.1f} MiB/s   (runs: {', '.join(f'{x / mib:.0f}' for x in off)})")
    print(f"  telemetry on:  {on_m / mib:8.1f} MiB/s   (runs: {', '.join(f'{x / mib:.0f}' for x in on)})")
    print(f"  slowdown with telemetry: {slowdown:+.2f} %  (exports received by the local OTLP sink: {sink.received})")
    print(f"ratio: {add_ns / advance_ns:.1f}")


if __name__ == "__main__":
    main()
