"""`make demo`: a real multi-disk copy through the whole stack, read back from InfluxDB and the hub."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from jobpulse import semconv

from ._stack import Stack

DEMO_DISKS = int(os.environ.get("JOBPULSE_DEMO_DISKS", "3"))
DEMO_SIZE = os.environ.get("JOBPULSE_DEMO_SIZE", "192M")
DEMO_RATE = os.environ.get("JOBPULSE_DEMO_RATE", "40M")


def _agent_program() -> list[str]:
    program = shutil.which("jobpulse-agent", path=str(Path(sys.executable).parent)) or shutil.which("jobpulse-agent")
    return [program] if program else [sys.executable, "-m", "jobpulse.agent.cli"]


def final_figures(stack: Stack, job_id: str) -> list[tuple[str, str]]:
    """The job's last value of every job-level metric, as stored in InfluxDB."""
    literal = job_id.replace("\\", "\\\\").replace("'", "\\'")
    statements = [
        f'SELECT last("{spec.field}") FROM "{spec.name}" WHERE "{semconv.ATTR_JOB_ID}" = \'{literal}\''
        for spec in semconv.JOB_METRICS
    ]
    body = stack.influxdb.query("; ".join(statements))
    rows = []
    for spec, result in zip(semconv.JOB_METRICS, body["results"]):
        series = result.get("series")
        value = series[0]["values"][0][1] if series else None
        rows.append((spec.name, _render(spec, value)))
    return rows


def _render(spec: semconv.MetricSpec, value) -> str:
    if value is None:
        return "(none)"
    if spec is semconv.JOB_STATUS:
        return f"{semconv.Status(int(value)).label} ({int(value)})"
    if spec is semconv.JOB_PHASE:
        return f"{semconv.Phase(int(value)).label} ({int(value)})"
    if spec.unit == "By":
        return f"{int(value):,} bytes"
    if spec.unit == "By/s":
        return f"{value / 1e6:,.1f} MB/s"
    if spec is semconv.JOB_LAST_PROGRESS:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value))
    return f"{value:,.2f} {spec.unit}"


def _hub_job(stack: Stack, job_id: str, timeout: float = 30.0) -> dict | None:
    """The job as the hub's API reports it, once the reconciler has marked it finished."""
    from urllib.parse import quote
    url = f"{stack.hub.url}/api/v1/jobs/{quote(job_id, safe='')}"
    deadline = time.monotonic() + timeout
    job = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                job = json.load(response)
            if job.get("status") in ("completed", "failed", "cancelled"):
                return job
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(1)
    return job


def _hub_node(stack: Stack, timeout: float = 30.0) -> dict | None:
    """This machine's node as the hub reports it, once its CPU and memory figures are in."""
    from urllib.parse import quote
    url = f"{stack.hub.url}/api/v1/nodes/{quote(stack.node.node_name, safe='')}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                node = json.load(response)
            if node.get("cpu_percent") is not None and node.get("memory_percent") is not None:
                return node
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(1)
    return None


def run_demo(stack: Stack | None = None) -> int:
    stack = stack or Stack(name="local")
    print("jobpulse demo: starting the local stack (InfluxDB, MariaDB, collector, node collector, hub) ...")
    stack.up(hub=True, say=lambda msg: print(f"  {msg}"))
    for line in stack.describe():
        print(f"  {line}")
    print(f"\nwatch it live at {stack.hub.url}/", flush=True)

    job_id = f"backup-demo-vm-{int(time.time())}"
    dest = stack.home / "demo" / job_id
    print(f"\ncopying {DEMO_DISKS} demo disks of {DEMO_SIZE} at up to {DEMO_RATE}/s as job {job_id}")
    print(f"telemetry goes over OTLP/HTTP to the collector at {stack.collector.otlp_http}\n")
    argv = _agent_program() + [
        "copy", "--dest", str(dest), "--job-id", job_id, "--job-type", "backup", "--machine", "demo-vm",
        "--demo-disks", str(DEMO_DISKS), "--demo-size", DEMO_SIZE, "--max-rate", DEMO_RATE,
        "--snapshot-seconds", "2", "--summary-json",
    ]
    result = subprocess.run(argv, env=stack.agent_environment(), stdout=subprocess.PIPE, text=True)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "{}"
    if result.returncode != 0:
        print(f"\nthe copy did not complete (exit {result.returncode}); what the agent reported: {summary}")
    shutil.rmtree(dest, ignore_errors=True)

    # The collector batches for up to 1 s after the agent's final export.
    time.sleep(2)
    print(f"\nfinal figures of {job_id} as read back from InfluxDB ({stack.influxdb.url}, db {stack.database}):")
    for name, value in final_figures(stack, job_id):
        print(f"  {name:34} {value}")

    job = _hub_job(stack, job_id)
    print(f"\nthe job as the hub's API reports it ({stack.hub.url}/api/v1/jobs/{job_id}):")
    print(json.dumps(job, indent=2) if job else "  (the hub did not report the job: see its log "
          f"{stack.hub.log_file})")
    node = _hub_node(stack)
    print(f"\nthis machine's node snapshot as the hub reports it ({stack.hub.url}/api/v1/nodes/{stack.node.node_name}):")
    print(json.dumps(node, indent=2) if node else "  (the hub has no snapshot of this node yet: see "
          f"{stack.node.log_file})")
    print(f"\nthe job, its disks and this node stay on the live page at {stack.hub.url}/")
    print("the stack keeps running for you to explore; `make stack-down` stops it.")
    return result.returncode
