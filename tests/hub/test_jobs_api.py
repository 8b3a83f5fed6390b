"""The GUI API on the embedded SQLite default and on the real MariaDB."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import create_engine, text

from ._helpers import AUTH, register, utcnow

def test_register_and_read_a_job_with_disks(api):
    job = register(api, "backup-pgtest1-1728518400", disks=(102_000_000_000, 7_521_739_776))
    assert job["status"] == "pending" and job["current_phase"] == "pending"
    assert job["total_bytes"] == 109_521_739_776
    assert [d["disk_index"] for d in job["disks"]] == [0, 1]
    got = api.get("/api/v1/jobs/backup-pgtest1-1728518400").json()
    assert got == job

def test_duplicate_registration_is_a_conflict(api):
    register(api, "dup")
    r = api.post("/api/v1/jobs", json={"id": "dup", "job_type": "backup", "machine": "m"}, headers=AUTH)
    assert r.status_code == 409 and "already registered" in r.json()["detail"]

def test_ids_differing_only_in_case_or_trailing_space_are_distinct_jobs(api):
    for job in ("Job-A", "job-a", "job-a "):
        register(api, job)
    assert api.get("/api/v1/jobs").json()["count"] == 3

def test_unknown_job_is_404(api):
    r = api.get("/api/v1/jobs/nope")
    assert r.status_code == 404 and r.json() == {"detail": "no job 'nope'"}

def test_list_filters_and_pagination(api):
    for i in range(5):
        register(api, f"b{i}", job_type="backup", machine="vm-a" if i % 2 else "vm-b")
    register(api, "r0", job_type="replication", machine="vm-a")
    everything = api.get("/api/v1/jobs").json()
    assert everything["count"] == 6
    assert [j["id"] for j in everything["data"]][0] == "r0"  # newest first
    page = api.get("/api/v1/jobs", params={"skip": 2, "limit": 2}).json()
    assert page["count"] == 6 and len(page["data"]) == 2
    assert page["data"] == everything["data"][2:4]
    assert api.get("/api/v1/jobs", params={"job_type": "replication"}).json()["count"] == 1
    assert api.get("/api/v1/jobs", params={"machine": "vm-a"}).json()["count"] == 3
    assert api.get("/api/v1/jobs", params={"status": "pending", "machine": "vm-b"}).json()["count"] == 3
    assert api.get("/api/v1/jobs", params={"status": "running"}).json()["count"] == 0
    future = (utcnow() + timedelta(hours=1)).isoformat() + "Z"
    past = (utcnow() - timedelta(hours=1)).isoformat() + "Z"
    assert api.get("/api/v1/jobs", params={"created_after": future}).json()["count"] == 0
    assert api.get("/api/v1/jobs", params={"created_after": past, "created_before": future}).json()["count"] == 6
    with_disks = api.get("/api/v1/jobs", params={"include_disks": True, "limit": 1}).json()
    assert len(with_disks["data"][0]["disks"]) == 2
    assert api.get("/api/v1/jobs", params={"status": "bogus"}).status_code == 422
    assert api.get("/api/v1/jobs", params={"limit": 100000}).status_code == 422

def _complete(api, job_id, disk_bytes):
    body = {"status": "completed", "current_phase": "done",
            "disks": [{"disk_index": i, "bytes_transferred": b, "status": "completed"}
                      for i, b in enumerate(disk_bytes)]}
    r = api.post(f"/api/v1/telemetry/backup/{job_id}", json=body, headers=AUTH)
    assert r.status_code == 204, r.text

def test_machines_summary_sums_completed_backups(api):
    register(api, "m1-a", disks=(100, 200), machine="m1")
    register(api, "m1-b", disks=(50,), machine="m1")
    register(api, "m2-a", disks=(10,), machine="m2")
    register(api, "m2-running", disks=(10,), machine="m2")
    _complete(api, "m1-a", (100, 200))
    _complete(api, "m1-b", (50,))
    _complete(api, "m2-a", (10,))
    summary = api.get("/api/v1/machines/summary").json()
    rows = {r["machine"]: r for r in summary["data"]}
    assert summary["count"] == 2
    assert (rows["m1"]["completed_jobs"], rows["m1"]["total_bytes"]) == (2, 350)
    assert (rows["m2"]["completed_jobs"], rows["m2"]["total_bytes"]) == (1, 10)
    assert rows["m1"]["last_completed_at"] is not None

def test_health_readiness_and_openapi(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    # InfluxDB is not configured for this client: not ready, and says which part
    assert ready.status_code == 503
    assert ready.json()["database"] == "ok" and ready.json()["influxdb"].startswith("unavailable")
    paths = api.get("/openapi.json").json()["paths"]
    for p in ("/api/v1/jobs", "/api/v1/jobs/{job_id}", "/api/v1/jobs/{job_id}/series",
              "/api/v1/jobs/{job_id}/events", "/api/v1/machines/summary", "/api/v1/pipeline",
              "/api/v1/telemetry/{job_type}/{job_id}", "/api/v1/alerts/grafana", "/healthz", "/readyz"):
        assert p in paths

def test_ready_when_influxdb_is_up(client_factory, sqlite_url, influxdb):
    c = client_factory(sqlite_url, influx_url=influxdb.url)
    assert c.get("/readyz").json() == {"status": "ready", "database": "ok", "influxdb": "ok"}

def _events(lines):
    out = []
    for line in lines:
        if line.startswith("event: "):
            out.append([line[7:], None])
        elif line.startswith("data: ") and out:
            out[-1][1] = line[6:]
    return out

def test_events_stream_each_change_and_end_when_terminal(client_factory, sqlite_url):
    api = client_factory(sqlite_url, sse_poll_interval=0.1)
    register(api, "live", disks=(100,))
    seen: list = []

    def post_later():
        time.sleep(0.5)
        api.post("/api/v1/telemetry/backup/live", headers=AUTH, json={
            "status": "running", "bytes_transferred": 40, "total_bytes": 100,
            "disks": [{"disk_index": 0, "bytes_transferred": 40}]})
        time.sleep(0.5)
        _complete(api, "live", (100,))

    t = threading.Thread(target=post_later)
    t.start()
    with api.stream("GET", "/api/v1/jobs/live/events") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        seen = _events(r.iter_lines())
    t.join()
    kinds = [k for k, _ in seen]
    assert kinds[0] == "job" and kinds[-1] == "end"
    import json
    statuses = [json.loads(d)["status"] for k, d in seen if k == "job"]
    assert statuses == ["pending", "running", "completed"]
    assert json.loads(seen[-2][1])["bytes_transferred"] == 100

def test_events_of_unknown_job_is_404(api):
    assert api.get("/api/v1/jobs/none/events").status_code == 404

def test_thresholds_are_published_for_sql_alert_rules(client_factory, sqlite_url):
    client_factory(sqlite_url, stalled_after=45, failed_after=240, stuck_after=600, freshness_seconds=20)
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        values = dict(conn.execute(text("SELECT `key`, value FROM settings")).all())
    engine.dispose()
    assert values["stalled_after_seconds"] == "45" and values["failed_after_seconds"] == "240"
    # The alert rules read these two as well, so they follow the hub's configuration.
    assert values["stuck_after_seconds"] == "600" and float(values["pipeline_fresh_seconds"]) == 20

def test_list_cache_never_hides_this_process_writes(client_factory, sqlite_url):
    api = client_factory(sqlite_url, list_cache_seconds=60)
    assert api.get("/api/v1/jobs").json()["count"] == 0
    register(api, "c1")
    assert api.get("/api/v1/jobs").json()["count"] == 1
    api.post("/api/v1/telemetry/backup/c1", json={"status": "running"}, headers=AUTH)
    assert api.get("/api/v1/jobs").json()["data"][0]["status"] == "running"
    # a write by someone else (another replica) shows once the cache entry expires;
    # with the cache off it shows at once
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE jobs SET machine='elsewhere'"))
    engine.dispose()
    assert api.get("/api/v1/jobs").json()["data"][0]["machine"] == "vm-1"
    fresh = client_factory(sqlite_url, list_cache_seconds=0)
    assert fresh.get("/api/v1/jobs").json()["data"][0]["machine"] == "elsewhere"
