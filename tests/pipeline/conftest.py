"""Helpers for the pipeline tests: real copies through the real collector into the real InfluxDB."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from jobpulse import semconv
from tests.support.disks import Disks, make_disks
from tests.support.wait import wait_for

# Three source "disks" of odd sizes, so totals must be right to the byte.
DISK_SIZES = (3 * 2**20 + 1, 5 * 2**20 + 4093, 2 * 2**20 + 777)


@pytest.fixture
def disks(tmp_path) -> Disks:
    return make_disks(tmp_path, DISK_SIZES)


def new_job_id(prefix: str = "e2e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def start_copy(agent_env, disks: Disks, dest: Path, job_id: str, max_rate: str, *extra: str) -> subprocess.Popen:
    dest.mkdir(parents=True, exist_ok=True)
    argv = ["jobpulse-agent", "copy", *map(str, disks.paths), "--dest", str(dest), "--job-id", job_id,
            "--job-type", "backup", "--machine", "vm-e2e", "--max-rate", max_rate, "--summary-json",
            "--no-progress", *extra]
    return subprocess.Popen(argv, env=agent_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 180) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"copy exited {proc.returncode}: {err[-2000:]}"
    return json.loads(out.strip().splitlines()[-1])


def last_values(influxdb, job_id: str, spec: semconv.MetricSpec, by_disk: bool = False) -> dict:
    """{disk index or None: last value} of one metric for one job."""
    literal = job_id.replace("\\", "\\\\").replace("'", "\\'")
    group = f' GROUP BY "{semconv.ATTR_DISK_INDEX}"' if by_disk else ""
    body = influxdb.query(
        f'SELECT last("{spec.field}") FROM "{spec.name}" WHERE "{semconv.ATTR_JOB_ID}" = \'{literal}\'{group}')
    values = {}
    for series in body["results"][0].get("series", []):
        key = int(series["tags"][semconv.ATTR_DISK_INDEX]) if by_disk else None
        values[key] = series["values"][0][1]
    return values


def wait_final_totals(influxdb, job_id: str, disks: Disks, timeout: float = 60) -> tuple[dict, dict]:
    """Wait until the job's completed status and final byte counts have landed; return them."""
    expected = {i: size for i, size in enumerate(disks.sizes)}

    def landed():
        per_disk = last_values(influxdb, job_id, semconv.DISK_TRANSFERRED, by_disk=True)
        job = last_values(influxdb, job_id, semconv.JOB_TRANSFERRED)
        status = last_values(influxdb, job_id, semconv.JOB_STATUS)
        done = per_disk == expected and job.get(None) == sum(disks.sizes) \
            and status.get(None) == semconv.Status.COMPLETED
        return (per_disk, job) if done else None

    result = wait_for(landed, timeout, interval=0.25, raises=False)
    if not result:
        per_disk = last_values(influxdb, job_id, semconv.DISK_TRANSFERRED, by_disk=True)
        job = last_values(influxdb, job_id, semconv.JOB_TRANSFERRED)
        status = last_values(influxdb, job_id, semconv.JOB_STATUS)
        raise AssertionError(f"final values did not land: disks={per_disk} (want {expected}), "
                             f"job={job} (want {sum(disks.sizes)}), status={status}")
    return result
