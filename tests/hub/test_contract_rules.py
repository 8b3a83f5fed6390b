"""The hub's contract with its clients (issue 12): one job-id rule on every way an id enters,
terminal jobs frozen against late points and re-used ids, and trusted old senders."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from jobpulse.hub.reconciler import Reconciler
from jobpulse.semconv import DiskStatus, Phase, Status

from tests.support.hub import hub_process
from tests.support.line_protocol import DiskPoint, JobPoint

from ._helpers import AUTH, TOKEN, ago, make_settings, register

BAD_IDS = {
    "../../etc/passwd": "'/'",
    "/.*/": "'/'",
    ".": "'.' or '..'",
    "..": "'.' or '..'",
    "bell\x07": "control characters",
    "new\nline": "control characters",
    "": "at least 1 character",
    "x" * 192: "at most 191 characters",
}


def jid(prefix="job"):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("job_id", list(BAD_IDS), ids=range(len(BAD_IDS)))
def test_registration_and_legacy_posts_refuse_every_unaddressable_id(client, job_id):
    r = client.post("/api/v1/jobs", json={"id": job_id, "job_type": "backup", "machine": "m"}, headers=AUTH)
    assert r.status_code == 422 and BAD_IDS[job_id] in r.text, r.text
    legacy = client.post(f"/api/v1/telemetry/backup/{quote(job_id, safe='')}", json={"status": "running"},
                         headers=AUTH)
    # '/' (even as %2F) and the dot segments never reach the route: its path has no such segment
    assert legacy.status_code in (400, 404, 422) and set(legacy.json()) == {"detail"}, legacy.text
    assert client.get("/api/v1/jobs").json()["count"] == 0


def test_every_valid_id_is_reachable_on_every_endpoint(client):
    for job_id in ("a b", "q'uote", "100%", "ünï ✓", "x" * 191, "back\\slash", "?#&="):
        register(client, job_id)
        path = quote(job_id, safe="")
        assert client.get(f"/api/v1/jobs/{path}").json()["id"] == job_id
        r = client.post(f"/api/v1/telemetry/backup/{path}", json={"status": "running", "bytes_transferred": 1},
                        headers=AUTH)
        assert r.status_code == 204, (job_id, r.text)
        assert client.get(f"/api/v1/jobs/{path}").json()["bytes_transferred"] == 1


@pytest.fixture
def reconciler(db_url, influxdb, influx_db):
    rec = Reconciler(make_settings(db_url, influx_url=influxdb.url, influx_db=influx_db))
    yield rec
    rec.stop()


def test_unaddressable_ids_in_telemetry_are_counted_once_and_never_stored(client_factory, db_url, reconciler,
                                                                       write_points):
    client = client_factory(db_url)
    bad = ["../../etc/passwd", "/.*/", "..", "bell\x07"]  # line protocol cannot carry a newline
    write_points(*(JobPoint(job_id, ago(3), transferred=5, total=10) for job_id in bad),
                 JobPoint("fine-job", ago(3), transferred=5, total=10))
    for _ in range(3):  # overlapping windows see the same points again
        reconciler.run_once()
    listed = [j["id"] for j in client.get("/api/v1/jobs").json()["data"]]
    assert listed == ["fine-job"]
    assert client.get("/api/v1/pipeline").json()["invalid_job_ids_ignored"] == len(bad)


def test_a_completed_job_is_frozen_and_late_points_are_counted(client_factory, db_url, reconciler, write_points):
    client = client_factory(db_url)
    job = jid()
    register(client, job, disks=(1000, 3000))
    done_at = ago(8)
    write_points(JobPoint(job, done_at, status=Status.COMPLETED, phase=Phase.DONE, transferred=4000, total=4000,
                          disks=[DiskPoint(1000, 1000, DiskStatus.COMPLETED),
                                 DiskPoint(3000, 3000, DiskStatus.COMPLETED)]))
    reconciler.run_once()
    before = client.get(f"/api/v1/jobs/{job}").json()
    assert before["status"] == "completed" and before["bytes_transferred"] == 4000

    # a copy re-using the id: a running job with other figures, and new disks
    write_points(JobPoint(job, ago(4), status=Status.RUNNING, transferred=4096, total=8192, speed=10,
                          disks=[DiskPoint(4096, 8192), DiskPoint(0, 10), DiskPoint(7, 7)]))
    for _ in range(3):
        reconciler.run_once()
    after = client.get(f"/api/v1/jobs/{job}").json()
    assert {k: v for k, v in after.items() if k != "updated_at"} == {k: v for k, v in before.items()
                                                                    if k != "updated_at"}
    assert client.get("/api/v1/pipeline").json()["late_points_ignored"] == 1  # one late point, seen 3 times

    # a legacy post after the end is refused, and counted too
    r = client.post(f"/api/v1/telemetry/backup/{job}", json={"status": "running", "bytes_transferred": 4096},
                    headers=AUTH)
    assert r.status_code == 409 and "frozen" in r.json()["detail"] and "new job id" in r.json()["detail"]
    assert client.get(f"/api/v1/jobs/{job}").json()["bytes_transferred"] == 4000
    assert client.get("/api/v1/pipeline").json()["late_points_ignored"] == 2


def test_a_failed_job_never_reaches_100_percent_afterwards(client_factory, db_url, reconciler, write_points):
    client = client_factory(db_url)
    job = jid()
    register(client, job, disks=(4096,))
    write_points(JobPoint(job, ago(9), transferred=1024, total=4096, disks=[DiskPoint(1024, 4096)]))
    reconciler.run_once()
    r = client.post(f"/api/v1/telemetry/backup/{job}", json={"status": "failed", "error": "disk gone",
                                                              "timestamp": ago(8).isoformat() + "Z"},
                    headers=AUTH)
    assert r.status_code == 204
    # the late point of a sender that kept going: 100 %, bytes = total
    write_points(JobPoint(job, ago(2), status=Status.RUNNING, transferred=4096, total=4096,
                          disks=[DiskPoint(4096, 4096, DiskStatus.COMPLETED)]))
    reconciler.run_once()
    got = client.get(f"/api/v1/jobs/{job}").json()
    assert got["status"] == "failed" and got["error_message"] == "disk gone"
    assert got["bytes_transferred"] == 1024 and got["progress_percent"] == 25.0
    assert [d["bytes_transferred"] for d in got["disks"]] == [1024]


@pytest.mark.e2e
def test_trusted_networks_let_old_senders_post_without_the_token(tmp_path: Path, sqlite_url, influxdb):
    body = {"id": "old-sender", "job_type": "backup", "machine": "vm-1"}
    with hub_process(tmp_path / "open", sqlite_url, influxdb, TOKEN, legacy_trusted_networks="10.0.0.0/8, 127.0.0.1/32") as hub:
        assert httpx.post(f"{hub.url}/api/v1/jobs", json=body, headers=AUTH).status_code == 201
        no_token = httpx.post(f"{hub.url}/api/v1/telemetry/backup/old-sender", json={"status": "running"})
        assert no_token.status_code == 204, no_token.text
        snapshot = httpx.post(f"{hub.url}/api/telemetry/snapshot", json={"node_id": "old-node", "cpu_percent": 3})
        assert snapshot.status_code in (204, 503), snapshot.text  # 503 only when InfluxDB refuses
        # registration is not a legacy endpoint: it still needs the token
        assert httpx.post(f"{hub.url}/api/v1/jobs", json=body | {"id": "x"}).status_code == 401
    with hub_process(tmp_path / "closed", sqlite_url, influxdb, TOKEN, legacy_trusted_networks="10.0.0.0/8") as hub:
        r = httpx.post(f"{hub.url}/api/v1/telemetry/backup/old-sender", json={"status": "running"})
        assert r.status_code == 401 and "bearer" in r.json()["detail"]
        ok = httpx.post(f"{hub.url}/api/v1/telemetry/backup/old-sender", json={"status": "running"}, headers=AUTH)
        assert ok.status_code == 204


def test_a_bad_trusted_network_is_one_plain_line(tmp_path, sqlite_url):
    import subprocess
    import sys

    env = {"JOBPULSE_DATABASE_URL": sqlite_url, "JOBPULSE_LEGACY_TRUSTED_NETWORKS": "10.0.0.0/8,not-a-net",
           "PATH": "/usr/bin:/bin"}
    p = subprocess.run([sys.executable, "-m", "jobpulse.hub", "--check"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "jobpulse-hub: JOBPULSE_LEGACY_TRUSTED_NETWORKS: 'not-a-net' is not a network (e.g. 10.0.0.0/8)"]


def _hub_cli(*args, env):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "jobpulse.hub", *args], env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.e2e
def test_check_reports_each_backend_and_changes_nothing(tmp_path, hub_mysql_url, influxdb):
    ready = _hub_cli("--check", env={"JOBPULSE_DATABASE_URL": hub_mysql_url, "JOBPULSE_INFLUX_URL": influxdb.url,
                                     "JOBPULSE_INFLUX_DB": influxdb.database, "JOBPULSE_API_TOKEN": TOKEN})
    assert ready.returncode == 0, ready.stdout + ready.stderr
    lines = ready.stdout.splitlines()
    assert any(line.startswith("jobpulse-hub: database: reachable, schema at") and "(current)" in line
               for line in lines), lines
    assert any(line.startswith("jobpulse-hub: influxdb: reachable") for line in lines), lines
    assert "jobpulse-hub: writes: enabled" in lines
    from sqlalchemy.engine import make_url

    assert make_url(hub_mysql_url).password not in ready.stdout  # never printed
    missing = tmp_path / "hub.sqlite3"
    down = _hub_cli("--check", "--port", "18999", env={"JOBPULSE_DATABASE_URL": f"sqlite:///{missing}",
                                                       "JOBPULSE_INFLUX_URL": "http://127.0.0.1:9"})
    assert down.returncode == 1
    assert "jobpulse-hub: settings: ok (serving on 127.0.0.1:18999)" in down.stdout
    assert "created and migrated at the first start" in down.stdout
    assert "influxdb: unavailable" in down.stdout
    assert not missing.exists() and list(tmp_path.iterdir()) == []
