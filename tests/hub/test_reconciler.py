"""The reconciler against the real InfluxDB (points written as the collector writes them)
and SQLite / the real MariaDB."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from jobpulse.semconv import DiskStatus, Phase, Status
from jobpulse.hub.reconciler import Reconciler

from tests.support.line_protocol import DiskPoint, JobPoint

from ._helpers import AUTH, ago, make_settings, register


@pytest.fixture
def reconciler(db_url, influxdb, influx_db):
    rec = Reconciler(make_settings(db_url, influx_url=influxdb.url, influx_db=influx_db))
    yield rec
    rec.stop()
    rec.stop()  # safe twice


def jid(prefix="job"):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_running_job_state_comes_from_the_newest_points(client_factory, db_url, reconciler, write_points):
    client = client_factory(db_url)
    job = jid()
    register(client, job, disks=(1000, 3000))
    t1, t2 = ago(8), ago(3)
    write_points(
        JobPoint(job, t1, transferred=400, total=4000, speed=100, eta=36,
                 disks=[DiskPoint(300, 1000), DiskPoint(100, 3000)]),
        JobPoint(job, t2, transferred=1000, total=4000, speed=120, eta=25,
                 disks=[DiskPoint(500, 1000), DiskPoint(500, 3000)]),
    )
    result = reconciler.run_once()
    assert result.leader and result.observed == 1 and result.written == 1
    got = client.get(f"/api/v1/jobs/{job}").json()
    assert got["status"] == "running"
    assert got["current_phase"] == "transferring"
    assert got["bytes_transferred"] == 1000
    assert got["total_bytes"] == 4000
    assert got["progress_percent"] == 25.0
    assert got["transfer_speed_bps"] == 120
    assert got["eta_seconds"] == 25
    # the time of the newest point, not of the reconcile
    assert got["last_telemetry_at"] == t2.isoformat() + "Z"
    assert [d["bytes_transferred"] for d in got["disks"]] == [500, 500]
    assert [d["progress_percent"] for d in got["disks"]] == [50.0, 16.67]
    assert got["started_at"] is not None

    # nothing new: nothing written
    again = reconciler.run_once()
    assert again.observed == 1 and again.written == 0

    pipe = client.get("/api/v1/pipeline").json()
    assert pipe["fresh"] is True
    assert pipe["newest_point_at"] == t2.isoformat() + "Z"
    assert pipe["reconciler_id"] == reconciler.id


def test_completion_sums_disks_and_late_points_do_not_reopen(client_factory, db_url, reconciler, write_points):
    client = client_factory(db_url)
    job = jid()
    register(client, job, disks=(1000, 3000))
    write_points(JobPoint(job, ago(10), transferred=3500, total=4000,
                          disks=[DiskPoint(1000, 1000, DiskStatus.COMPLETED), DiskPoint(2500, 3000)]))
    reconciler.run_once()
    t_done = ago(5)
    # The job-level counter lags behind the disks (the seeds' bug): the disks' sum wins.
    write_points(JobPoint(job, t_done, status=Status.COMPLETED, phase=Phase.DONE, transferred=0, total=4000,
                          disks=[DiskPoint(1000, 1000, DiskStatus.COMPLETED),
                                 DiskPoint(3000, 3000, DiskStatus.COMPLETED)]))
    reconciler.run_once()
    got = client.get(f"/api/v1/jobs/{job}").json()
    assert got["status"] == "completed"
    assert got["bytes_transferred"] == 4000 == sum(d["bytes_transferred"] for d in got["disks"])
    assert got["progress_percent"] == 100.0
    assert got["completed_at"] == t_done.isoformat() + "Z"
    assert got["current_phase"] == "done"

    # a late "running" point with smaller numbers changes nothing
    write_points(JobPoint(job, ago(1), status=Status.RUNNING, transferred=10, total=4000,
                          disks=[DiskPoint(5, 1000), DiskPoint(5, 3000)]))
    reconciler.run_once()
    late = client.get(f"/api/v1/jobs/{job}").json()
    assert late["status"] == "completed"
    assert late["bytes_transferred"] == 4000
    assert late["completed_at"] == got["completed_at"]


def test_failed_job_keeps_the_agent_error(client_factory, db_url, reconciler, write_points):
    client = client_factory(db_url)
    job = jid()
    register(client, job, disks=(100,))
    write_points(JobPoint(job, ago(2), status=Status.FAILED, transferred=40, total=100,
                          error="disk 0: read error", disks=[DiskPoint(40, 100, DiskStatus.FAILED)]))
    reconciler.run_once()
    got = client.get(f"/api/v1/jobs/{job}").json()
    assert got["status"] == "failed"
    assert got["error_message"] == "disk 0: read error"
    assert got["completed_at"] is not None
    assert got["disks"][0]["status"] == "failed"


def test_unknown_jobs_are_registered_from_their_tags(client_factory, db_url, reconciler, write_points):
    client = client_factory(db_url)
    job = jid("auto")
    write_points(JobPoint(job, ago(2), job_type="replication", machine="db-7", transferred=5, total=10,
                          disks=[DiskPoint(5, 10)]))
    result = reconciler.run_once()
    assert result.registered == 1
    got = client.get(f"/api/v1/jobs/{job}").json()
    assert (got["job_type"], got["machine"], got["status"]) == ("replication", "db-7", "running")
    assert got["disks"][0]["size_bytes"] == 10


def test_unknown_jobs_are_counted_when_auto_register_is_off(client_factory, sqlite_url, influxdb, influx_db,
                                                            write_points):
    client = client_factory(sqlite_url)
    rec = Reconciler(make_settings(sqlite_url, influx_url=influxdb.url, influx_db=influx_db,
                                   auto_register=False))
    try:
        write_points(JobPoint(jid("x"), ago(2)), JobPoint(jid("y"), ago(2)))
        result = rec.run_once()
        assert result.unknown == 2 and result.written == 0
        assert client.get("/api/v1/jobs").json()["count"] == 0
        assert client.get("/api/v1/pipeline").json()["unknown_jobs_ignored"] == 2
    finally:
        rec.stop()


def test_progress_never_goes_backwards(client_factory, db_url, reconciler, write_points):
    client = client_factory(db_url)
    job = jid()
    register(client, job, disks=(100,))
    write_points(JobPoint(job, ago(6), transferred=80, total=100, disks=[DiskPoint(80, 100)]))
    reconciler.run_once()
    # a newer point with fewer bytes (an agent restarted its counter) is ignored
    write_points(JobPoint(job, ago(2), transferred=30, total=100, disks=[DiskPoint(30, 100)]))
    reconciler.run_once()
    got = client.get(f"/api/v1/jobs/{job}").json()
    assert got["bytes_transferred"] == 80 and got["progress_percent"] == 80.0
    assert got["disks"][0]["bytes_transferred"] == 80


def test_hostile_ids_and_tag_values_stay_data(client_factory, db_url, reconciler, write_points):
    client = client_factory(db_url)
    hostile = ["q'uote\"d", "back\\slash", "re.*|()[]{}^$+?", "sp ace,com=ma", "') OR 1=1 --"]
    for job in hostile:
        write_points(JobPoint(job, ago(2), machine="m'\"x", transferred=1, total=2, disks=[DiskPoint(1, 2)]))
    result = reconciler.run_once()
    assert result.observed == len(hostile)
    for job in hostile:
        r = client.get("/api/v1/jobs", params={"machine": "m'\"x", "limit": 500})
        assert job in {j["id"] for j in r.json()["data"]}
        got = client.get(f"/api/v1/jobs/{quote(job, safe='')}").json()
        assert got["id"] == job and got["bytes_transferred"] == 1
    assert client.get("/api/v1/jobs").json()["count"] == len(hostile)


def test_catch_up_window_after_an_outage_covers_points_written_meanwhile(
        client_factory, db_url, reconciler, write_points):
    client = client_factory(db_url)
    job = jid()
    register(client, job, disks=(100,))
    write_points(JobPoint(job, ago(120), transferred=10, total=100, disks=[DiskPoint(10, 100)]))
    first = reconciler.run_once()
    assert first.observed == 1
    # points that arrive with timestamps older than "now - overlap" but newer than the last
    # point seen are still read: the window starts from the newest point seen, not from now
    write_points(JobPoint(job, ago(100), transferred=50, total=100, disks=[DiskPoint(50, 100)]))
    second = reconciler.run_once()
    assert second.since < ago(100)
    assert client.get(f"/api/v1/jobs/{job}").json()["bytes_transferred"] == 50


def test_writes_by_other_writers_are_respected(client_factory, db_url, reconciler, write_points):
    """A webhook-made stall between cycles is rebased on, not overwritten by a stale cache."""
    client = client_factory(db_url)
    job = jid()
    register(client, job, disks=(100,))
    t1 = ago(200)
    write_points(JobPoint(job, t1, transferred=10, total=100, disks=[DiskPoint(10, 100)]))
    reconciler.run_once()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE jobs SET status='stalled', error_message='x', updated_at=:u WHERE id=:i"),
                     {"u": ago(0), "i": job})
    engine.dispose()
    # same old point again: stays stalled
    reconciler.run_once()
    assert client.get(f"/api/v1/jobs/{job}").json()["status"] == "stalled"
    # telemetry resumes: back to running, error cleared
    write_points(JobPoint(job, ago(1), transferred=20, total=100, disks=[DiskPoint(20, 100)]))
    reconciler.run_once()
    got = client.get(f"/api/v1/jobs/{job}").json()
    assert got["status"] == "running" and got["error_message"] is None and got["bytes_transferred"] == 20


def test_influx_client_error_tree_against_the_real_server(influxdb, influx_db):
    from jobpulse.hub.influx import InfluxClient, InfluxConnectionError, InfluxQueryError

    client = InfluxClient(influxdb.url, influx_db)
    try:
        with pytest.raises(InfluxQueryError):
            client.query("SELEC nonsense")
        assert InfluxClient(influxdb.url, "no_such_db").query('SELECT * FROM "x"') == {"results": []}
    finally:
        client.close()
    with pytest.raises(InfluxConnectionError):
        InfluxClient("http://127.0.0.1:9", influx_db, timeout=1).query("SHOW DATABASES")
