"""Fixtures of the adapter tests: a real hub on the session's MariaDB and InfluxDB, a generated
source tree of odd sizes, and `jobpulse-agent run` as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.disks import make_disk
from tests.support.hub import hub_process
from tests.support.wait import wait_for

TOKEN = "adapters-token-0123456789"
MIB = 2**20
# A few hundred MiB of odd sizes in nested folders (restic, rclone and rsync walk a tree).
TREE = {"a/disk0.img": 97 * MIB + 13, "a/b/disk1.img": 61 * MIB + 4095, "c/disk2.img": 45 * MIB + 1,
        "c/small.txt": 3 * 1024 + 7, "empty": 0, "d/e/f/odd.bin": 11 * MIB + 777}


@pytest.fixture
def hub(tmp_path, mysql_url, influxdb):
    with hub_process(tmp_path / "hub", mysql_url, influxdb, TOKEN) as h:
        yield h


@pytest.fixture(scope="session")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    for name, size in TREE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        make_disk(root / name, size)
    return root


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def job_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def run(agent_env, job: str, *command: str, extra=(), timeout=300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["jobpulse-agent", "run", "--job-id", job, "--no-progress", "--summary-json", *extra,
                           "--", *command], env=agent_env | kw.pop("env", {}), capture_output=True, text=True,
                          timeout=timeout, **kw)


def summary(proc: subprocess.CompletedProcess) -> dict:
    return json.loads([line for line in proc.stderr.splitlines() if line.startswith("{")][-1])


def hub_job(hub, job: str, status: str, timeout: float = 30) -> dict:
    return wait_for(lambda: (r := httpx.get(f"{hub.url}/api/v1/jobs/{job}", timeout=5)).status_code == 200
                    and r.json()["status"] == status and r.json(), timeout, interval=0.5,
                    what=f"job {job} {status} in the hub")


def influx_values(influxdb, metric: str, job: str) -> list[float]:
    from jobpulse import semconv

    spec = semconv.METRICS_BY_NAME[metric]
    body = influxdb.query(f'SELECT "{spec.field}" FROM "{metric}" WHERE "{semconv.ATTR_JOB_ID}" = \'{job}\'')
    series = body["results"][0].get("series") or []
    return [row[1] for s in series for row in s["values"]]


@pytest.fixture
def restic_repo(tmp_path) -> dict[str, str]:
    env = {"RESTIC_PASSWORD": "adapters", "RESTIC_REPOSITORY": str(tmp_path / "repo"),
           "RESTIC_CACHE_DIR": str(tmp_path / "restic-cache")}
    subprocess.run(["restic", "init", "-q"], env=os.environ | env, check=True, capture_output=True, timeout=60)
    return env
