"""Pipe-meter benchmark (not a test): `jobpulse-agent pipe` against `cat` and `pv` on the same
multi-GiB stream, in alternating rounds of one run, the meter with telemetry on (to a local
OTLP sink). Run from the repo root: python -m bench.bench_pipe   (make bench-pipe).

Each round times `head -c SIZE /dev/zero | METER > /dev/null` (the producer and the sink cost
the same for every meter). The last line is `ratio: N`, N = the meter's median throughput /
cat's median throughput (the goal is at least 0.95).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.otlp_sink import OtlpSink

GIB = 1 << 30
SIZE_GIB = int(os.environ.get("JOBPULSE_BENCH_PIPE_GIB", "4"))
ROUNDS = int(os.environ.get("JOBPULSE_BENCH_ROUNDS", "5"))


def agent_program() -> list[str]:
    program = Path(sys.executable).with_name("jobpulse-agent")
    return [str(program)] if program.exists() else [sys.executable, "-m", "jobpulse.agent.cli"]


def timed(meter: list[str], env: dict[str, str]) -> float:
    """Throughput in bytes/s of one run of the pipeline through ``meter``."""
    size = SIZE_GIB * GIB
    started = time.perf_counter()
    producer = subprocess.Popen(["head", "-c", str(size), "/dev/zero"], stdout=subprocess.PIPE)
    with open(os.devnull, "wb") as sink:
        consumer = subprocess.run(meter, stdin=producer.stdout, stdout=sink, stderr=subprocess.DEVNULL, env=env)
    producer.stdout.close()
    producer.wait()
    elapsed = time.perf_counter() - started
    if consumer.returncode != 0:
        raise SystemExit(f"{' '.join(meter)} exited with {consumer.returncode}")
    return size / elapsed


def main() -> None:
    pv = shutil.which("pv")
    if pv is None:
        raise SystemExit("pv is not installed: run `make setup`")
    with OtlpSink(keep=False) as otlp, tempfile.TemporaryDirectory() as spool:
        env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url, OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                   JOBPULSE_SPOOL_DIR=spool)
        meters = {
            "cat": ["cat"],
            "pv -q": [pv, "-q"],
            "jobpulse-agent pipe": [*agent_program(), "pipe", "--no-progress", "--total", str(SIZE_GIB * GIB),
                                    "--job-id", f"bench-pipe-{os.getpid()}"],
        }
        runs: dict[str, list[float]] = {name: [] for name in meters}
        for i in range(ROUNDS):
            for name, meter in meters.items():
                runs[name].append(timed(meter, env))
            print(f"round {i + 1}/{ROUNDS}: " + ", ".join(f"{n} {runs[n][-1] / GIB:.2f} GiB/s" for n in meters),
                  flush=True)
        received = otlp.received
    medians = {name: statistics.median(v) for name, v in runs.items()}
    print(f"{SIZE_GIB} GiB through each meter, {ROUNDS} alternating rounds, median throughput:")
    for name, value in medians.items():
        print(f"  {name:20} {value / GIB:6.2f} GiB/s  ({value / medians['cat']:.3f} x cat)")
    print(f"  OTLP exports received from the meter: {received}")
    print(f"ratio: {medians['jobpulse-agent pipe'] / medians['cat']:.3f}")


if __name__ == "__main__":
    main()
