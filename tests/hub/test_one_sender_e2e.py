"""The victim scenario on real parts (issue: anyone who reaches the collector can forge a job): while a
real `jobpulse-agent copy --job-id victim-...` runs, a five-line script using our own library - with a
valid collector token - reports the same job id as copied in full and completed. The hub refuses the
second sender: the job keeps running with its true figures, is flagged (conflicting_sender), and ends
completed with its exact total; the refused points are counted in /api/v1/pipeline."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.support.disks import make_disks
from tests.support.hub import hub_process
from tests.support.wait import wait_for

from ._helpers import TOKEN

pytestmark = [pytest.mark.e2e, pytest.mark.security]

FORGER = """
import sys
from jobpulse.agent import configure
telemetry = configure()
job = telemetry.start_job("backup", "vm-victim", [209715200], job_id=sys.argv[1])
job.advance(0, 209715200)
job.complete()
telemetry.shutdown()
"""


def test_a_second_sender_cannot_move_a_running_job(tmp_path, hub_mysql_url, influxdb, agent_env):
    job_id = f"victim-{uuid.uuid4().hex[:8]}"
    size = 24 * 2**20 + 5
    sources = [str(p) for p in make_disks(tmp_path, (size,)).paths]
    (tmp_path / "dest").mkdir()
    with hub_process(tmp_path / "hub", hub_mysql_url, influxdb, TOKEN) as hub:
        api = httpx.Client(base_url=hub.url, timeout=10)
        real = subprocess.Popen(
            ["jobpulse-agent", "copy", *sources, "--dest", str(tmp_path / "dest"), "--job-id", job_id,
             "--machine", "vm-victim", "--max-rate", "1M", "--no-progress"],
            env=agent_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            job = wait_for(lambda: (r := api.get(f"/api/v1/jobs/{job_id}")).status_code == 200
                           and r.json()["bytes_transferred"] > 2 * 2**20 and r.json(), 60, what="the copy under way")
            owner = job["sender"]
            assert owner and job["conflicting_sender"] is None
            forger = subprocess.run([sys.executable, "-c", FORGER, job_id], env=agent_env, capture_output=True,
                                    text=True, timeout=60)
            assert forger.returncode == 0, forger.stderr
            flagged = wait_for(lambda: (j := api.get(f"/api/v1/jobs/{job_id}").json())["conflicting_sender"] and j,
                               30, what="the job flagged")
            assert flagged["status"] == "running" and flagged["bytes_transferred"] < size
            assert flagged["total_bytes"] == size and flagged["sender"] == owner
            assert flagged["conflicting_sender"] != owner and flagged["conflicting_sender_since"]
            time.sleep(4)  # a few more cycles: the forged "completed, 200 MiB" still changes nothing
            still = api.get(f"/api/v1/jobs/{job_id}").json()
            assert still["status"] == "running" and still["progress_percent"] < 100
            assert api.get("/api/v1/pipeline").json()["conflicting_sender_points_ignored"] >= 1
        finally:
            _, err = real.communicate(timeout=120)
        assert real.returncode == 0, err
        done = wait_for(lambda: (j := api.get(f"/api/v1/jobs/{job_id}").json())["status"] == "completed" and j,
                        30, what="the real copy's completion")
        assert done["bytes_transferred"] == done["total_bytes"] == size, "its true figures, to the byte"
        assert done["sender"] == owner
