"""Outages with the real servers: MySQL down -> 503 and the reconciler retries; InfluxDB
down -> job state still served, series 503, and the reconciler catches up afterwards.
The servers are session fixtures: whatever a test stops, it restarts in ``finally``."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from jobpulse import semconv as sc
from jobpulse.hub.influx import InfluxError
from jobpulse.hub.reconciler import Reconciler
from tests.support.line_protocol import DiskPoint, JobPoint
from tests.support.wait import wait_for

from ._helpers import AUTH, make_settings, register, utcnow


def test_mysql_down_answers_503_and_the_reconciler_recovers(client_factory, hub_mysql_url, mariadb, influxdb,
                                                           influx_db, write_points):
    api = client_factory(hub_mysql_url, influx_url=influxdb.url, influx_db=influx_db)
    register(api, "survivor", disks=(100,))
    rec = Reconciler(make_settings(hub_mysql_url, influx_url=influxdb.url, influx_db=influx_db,
                                   reconcile_interval=0.2, reconcile_max_backoff=1.0))
    rec.start()
    try:
        write_points(JobPoint("survivor", utcnow() - timedelta(seconds=20), transferred=10, total=100,
                              disks=[DiskPoint(10, 100)]))
        wait_for(lambda: api.get("/api/v1/jobs/survivor").json()["bytes_transferred"] == 10, 30,
                 interval=0.2, what="the job's first bytes")
        mariadb.stop()
        try:
            for method, path, kw in [("get", "/api/v1/jobs", {}), ("get", "/api/v1/jobs/survivor", {}),
                                     ("get", "/api/v1/pipeline", {}),
                                     ("post", "/api/v1/telemetry/backup/survivor", {"json": {"status": "running"}})]:
                r = getattr(api, method)(path, headers=AUTH, **kw)
                assert r.status_code == 503, (path, r.text)
                assert r.json()["detail"].startswith("database unavailable: ")
            assert api.get("/readyz").status_code == 503
            assert api.get("/healthz").status_code == 200
            # telemetry keeps arriving in InfluxDB during the outage
            write_points(JobPoint("survivor", utcnow() - timedelta(seconds=5), transferred=60, total=100,
                                  disks=[DiskPoint(60, 100)]))
            wait_for(lambda: rec.last_error is not None, 15, interval=0.2, what="a failed reconcile cycle")
        finally:
            mariadb.start()
        # nothing lost: the reconciler retried and caught up
        wait_for(lambda: api.get("/api/v1/jobs/survivor").json()["bytes_transferred"] == 60, 60,
                 interval=0.2, what="the reconciler to catch up after MySQL returned")
        assert api.get("/readyz").status_code == 200
        assert rec.is_leader
    finally:
        rec.stop()


def test_influx_down_serves_state_and_catches_up(client_factory, sqlite_url, influxdb, influx_db, write_points):
    api = client_factory(sqlite_url, influx_url=influxdb.url, influx_db=influx_db)
    register(api, "steady", disks=(100,))
    rec = Reconciler(make_settings(sqlite_url, influx_url=influxdb.url, influx_db=influx_db))
    try:
        t0 = utcnow() - timedelta(seconds=40)
        write_points(JobPoint("steady", t0, transferred=20, total=100, disks=[DiskPoint(20, 100)]))
        rec.run_once()
        influxdb.stop()
        try:
            got = api.get("/api/v1/jobs/steady")
            assert got.status_code == 200 and got.json()["bytes_transferred"] == 20
            assert api.get("/api/v1/jobs").json()["count"] == 1
            r = api.get("/api/v1/jobs/steady/series", params={"metric": sc.JOB_PROGRESS.name})
            assert r.status_code == 503 and r.json()["detail"].startswith("influxdb unavailable: ")
            ready = api.get("/readyz")
            assert ready.status_code == 503 and ready.json()["database"] == "ok"
            with pytest.raises(InfluxError):
                rec.run_once()
        finally:
            influxdb.start()
        # points stamped during the outage (e.g. flushed late by the collector's retry queue)
        write_points(JobPoint("steady", t0 + timedelta(seconds=10), transferred=70, total=100,
                              disks=[DiskPoint(70, 100)]))
        result = rec.run_once()
        assert result.written == 1
        got = api.get("/api/v1/jobs/steady").json()
        assert got["bytes_transferred"] == 70
        assert got["last_telemetry_at"] == (t0 + timedelta(seconds=10)).isoformat() + "Z"
    finally:
        rec.stop()


def test_stale_pipeline_refuses_failing_healthy_jobs(client_factory, sqlite_url, influxdb, influx_db, write_points):
    """The reconciler stopped: every job looks silent, yet none is failed."""
    from .test_webhook import alert, grafana_payload
    from ._helpers import WEBHOOK_PASSWORD, WEBHOOK_USER

    api = client_factory(sqlite_url, influx_url=influxdb.url, influx_db=influx_db, freshness_seconds=1)
    for i in range(3):
        register(api, f"fleet-{i}")
        write_points(JobPoint(f"fleet-{i}", utcnow() - timedelta(seconds=400), transferred=1, total=10))
    rec = Reconciler(make_settings(sqlite_url, influx_url=influxdb.url, influx_db=influx_db))
    rec.run_once()
    rec.stop()
    time.sleep(1.2)
    body = api.post("/api/v1/alerts/grafana", auth=(WEBHOOK_USER, WEBHOOK_PASSWORD),
                    json=grafana_payload(*(alert("job_failed", f"fleet-{i}") for i in range(3)))).json()
    assert body["pipeline_fresh"] is False and body["applied"] == 0
    assert {j["status"] for j in api.get("/api/v1/jobs").json()["data"]} == {"running"}
