"""The job list's count comes from job_counts, which every writer of ``jobs`` keeps in its own
transaction: whatever registers, posts, reconciles or is refused, the count a client is shown
is the number of rows, on every database kind; and a writer outside the hub, which leaves it
wrong, is corrected by the leader's recount."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from fastapi.testclient import TestClient

from jobpulse.hub import create_app
from jobpulse.hub.core.db import make_engine
from jobpulse.hub.migrations import upgrade
from jobpulse.hub.reconciler import Reconciler
from jobpulse.hub.store import Store
from jobpulse.semconv import DiskStatus, Status

from tests.support.line_protocol import DiskPoint, JobPoint

from ._helpers import AUTH, ago, make_settings, register

STATUSES = tuple(s.label for s in Status)


def counts_shown(client: TestClient) -> dict[str, int]:
    """What a client is told: the count of all jobs and of each status."""
    shown = {s: client.get("/api/v1/jobs", params={"status": s, "limit": 1}).json()["count"] for s in STATUSES}
    shown["all"] = client.get("/api/v1/jobs", params={"limit": 1}).json()["count"]
    return shown


def counts_of_rows(db_url: str) -> dict[str, int]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = dict(conn.execute(sa.text("SELECT status, COUNT(*) FROM jobs GROUP BY status")).all())
    finally:
        engine.dispose()
    out = {s: rows.get(s, 0) for s in STATUSES}
    out["all"] = sum(rows.values())
    return out


def legacy(client, job_id, status, done, at):
    body = {"job_type": "backup", "status": status, "current_phase": "transferring", "bytes_transferred": done,
            "total_bytes": 4000, "timestamp": at}
    return client.post(f"/api/v1/telemetry/backup/{job_id}", json=body, headers=AUTH)


def test_every_writer_keeps_the_count_a_client_is_shown_exact(client_factory, db_url, influxdb, influx_db,
                                                               write_points):
    client = client_factory(db_url, list_cache_seconds=0)
    ids = [f"count-{uuid.uuid4().hex[:6]}-{i}" for i in range(8)]
    for j in ids:  # registration
        register(client, j, disks=(2000, 2000))
    assert client.post("/api/v1/jobs", json={"id": ids[0], "job_type": "backup", "machine": "vm-1"},
                       headers=AUTH).status_code == 409  # a refused registration counts nothing
    assert counts_shown(client) == counts_of_rows(db_url) == {**dict.fromkeys(STATUSES, 0), "pending": 8, "all": 8}

    # the legacy endpoint: running, then completed, then a refused late post
    assert legacy(client, ids[0], "running", 100, "2026-12-07T10:00:00Z").status_code == 204
    assert legacy(client, ids[1], "running", 100, "2026-12-07T10:00:00Z").status_code == 204
    assert legacy(client, ids[1], "completed", 4000, "2026-12-07T10:00:05Z").status_code == 204
    assert legacy(client, ids[1], "running", 200, "2026-12-07T10:00:09Z").status_code == 409
    assert counts_shown(client) == counts_of_rows(db_url)
    assert counts_shown(client)["completed"] == 1 and counts_shown(client)["running"] == 1

    # reconcile cycles: some jobs run, one fails, one is replayed by the overlapping window
    rec = Reconciler(make_settings(db_url, influx_url=influxdb.url, influx_db=influx_db,
                                   influx_token=influxdb.token("hub") or None))
    try:
        write_points(*[JobPoint(j, ago(10), transferred=500, total=4000,
                                disks=[DiskPoint(250, 2000), DiskPoint(250, 2000, DiskStatus.PENDING)])
                       for j in ids[2:6]])
        assert rec.run_once().written == 4
        write_points(JobPoint(ids[2], ago(5), status=Status.FAILED, transferred=600, total=4000,
                              error="disk 1: gone"),
                     JobPoint(ids[3], ago(5), status=Status.COMPLETED, transferred=4000, total=4000))
        rec.run_once()
        rec.run_once()
    finally:
        rec.stop()
    shown = counts_shown(client)
    assert shown == counts_of_rows(db_url)
    assert (shown["pending"], shown["running"], shown["failed"], shown["completed"], shown["all"]) == (2, 3, 1, 2, 8)
    # nothing for the recount to correct
    engine = make_engine(db_url)
    try:
        assert Store(engine).recount_jobs() == {}
    finally:
        engine.dispose()


def test_a_writer_outside_the_hub_is_corrected_by_the_leaders_recount(client_factory, db_url, influxdb, influx_db):
    client = client_factory(db_url, list_cache_seconds=0)
    ids = [f"outside-{uuid.uuid4().hex[:6]}-{i}" for i in range(3)]
    for j in ids:
        register(client, j)
    engine = make_engine(db_url)
    with engine.begin() as conn:  # an older replica, a hand edit: the counts do not follow
        conn.execute(sa.text("UPDATE jobs SET status = 'cancelled' WHERE id = :id"), {"id": ids[0]})
    engine.dispose()
    assert counts_shown(client)["cancelled"] == 0  # wrong until the recount

    rec = Reconciler(make_settings(db_url, influx_url=influxdb.url, influx_db=influx_db,
                                   influx_token=influxdb.token("hub") or None))
    try:
        assert rec.run_once().leader  # becoming the leader recounts at once
    finally:
        rec.stop()
    shown = counts_shown(client)
    assert shown == counts_of_rows(db_url)
    assert (shown["cancelled"], shown["pending"], shown["all"]) == (1, 2, 3)


def test_the_migration_counts_the_jobs_already_stored(tmp_path):
    url = f"sqlite:///{(tmp_path / 'old.sqlite3').as_posix()}"
    upgrade(url, "0006")
    engine = make_engine(url)
    with engine.begin() as conn:
        for i, status in enumerate(["running", "running", "completed", "failed", "mystery"]):
            conn.execute(sa.text(
                "INSERT INTO jobs (id, job_type, machine, status, current_phase, bytes_transferred, total_bytes, "
                "transfer_speed_bps, progress_percent, created_at, updated_at) "
                "VALUES (:id, 'backup', 'vm', :s, 'transferring', 0, 0, 0, 0, '2026-12-01 00:00:00', "
                "'2026-12-01 00:00:00')"), {"id": f"old-{i}", "s": status})
    engine.dispose()
    upgrade(url)
    client = TestClient(create_app(make_settings(url, list_cache_seconds=0)))
    with client:
        shown = counts_shown(client)  # "all" counts the status no migration knew of too
        assert (shown["running"], shown["completed"], shown["failed"], shown["pending"], shown["all"]) == (2, 1, 1, 0, 5)
