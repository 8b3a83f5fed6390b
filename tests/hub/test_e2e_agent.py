"""End to end: a real `jobpulse-agent copy` -> collector -> InfluxDB -> the real
`jobpulse-hub` process (migrations, uvicorn, reconciler) on MariaDB -> its API reports the
job completed with exact totals."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import httpx
import pytest

from tests.support.disks import make_disks
from tests.support.hub import hub_process
from tests.support.influx import ON_BOTH_INFLUXDB

from ._helpers import TOKEN

pytestmark = pytest.mark.e2e


@pytest.fixture
def hub(tmp_path, hub_mysql_url, influxdb):
    with hub_process(tmp_path / "hub", hub_mysql_url, influxdb, TOKEN) as h:
        yield h


@ON_BOTH_INFLUXDB
def test_agent_copy_reaches_completed_with_exact_totals(hub, agent_env, tmp_path):
    job_id = f"e2e-{uuid.uuid4().hex[:8]}"
    sizes = (3 * 2**20 + 17, 2 * 2**20 + 4093)
    sources = [str(p) for p in make_disks(tmp_path, sizes).paths]
    api = httpx.Client(base_url=hub.url, timeout=10)
    r = api.post("/api/v1/jobs", headers={"Authorization": f"Bearer {TOKEN}"}, json={
        "id": job_id, "job_type": "backup", "machine": "e2e-vm",
        "disks": [{"disk_index": i, "size_bytes": s} for i, s in enumerate(sizes)]})
    assert r.status_code == 201, r.text

    (tmp_path / "dest").mkdir()
    proc = subprocess.Popen(
        ["jobpulse-agent", "copy", *sources, "--dest", str(tmp_path / "dest"), "--job-id", job_id,
         "--machine", "e2e-vm", "--max-rate", "1M", "--no-progress", "--summary-json"],
        env=agent_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    seen_running = False
    deadline = time.monotonic() + 90
    job, exited_at = None, None
    while time.monotonic() < deadline:
        job = api.get(f"/api/v1/jobs/{job_id}").json()
        seen_running |= job["status"] == "running" and 0 < job["bytes_transferred"] < sum(sizes)
        if proc.poll() is not None:
            exited_at = exited_at or time.monotonic()
            if job["status"] == "completed" or proc.returncode != 0 or time.monotonic() - exited_at > 20:
                break
        time.sleep(0.5)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["status"] == "completed"

    assert seen_running, "the hub never showed the job in progress"
    assert job["status"] == "completed", job
    assert job["bytes_transferred"] == sum(sizes) == summary["bytes_transferred"]
    assert job["total_bytes"] == sum(sizes)
    assert job["progress_percent"] == 100.0
    assert job["completed_at"] is not None and job["last_telemetry_at"] is not None
    assert [(d["disk_index"], d["bytes_transferred"], d["size_bytes"], d["status"]) for d in job["disks"]] == [
        (i, s, s, "completed") for i, s in enumerate(sizes)]
    pipeline = api.get("/api/v1/pipeline").json()
    assert pipeline["fresh"] is True
    series = api.get(f"/api/v1/jobs/{job_id}/series", params={"metric": "jobpulse.job.transferred", "step": "1s"})
    assert series.status_code == 200
    values = [p["value"] for p in series.json()["series"][0]["points"]]
    assert values == sorted(values) and values[-1] == sum(sizes)
