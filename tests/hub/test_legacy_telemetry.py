"""The seeds' push endpoint with the exact example payloads from the seed documents."""

from __future__ import annotations

import pytest

from jobpulse.hub.reconciler import Reconciler

from tests.support.line_protocol import DiskPoint, JobPoint

from ._helpers import AUTH, make_settings, register

# 000 (API documentation example), verbatim
SEED_000 = {
    "job_type": "backup",
    "status": "running",
    "current_phase": "transferring",
    "bytes_transferred": 32212254720,
    "total_bytes": 107374182400,
    "transfer_speed_bps": 3221225472,
    "eta_seconds": 23,
    "progress_percent": 30.0,
    "disks": [
        {
            "disk_index": 0,
            "bytes_transferred": 32212254720,
            "progress_percent": 30.0,
            "status": "transferring",
        }
    ],
    "timestamp": "2025-10-10T14:35:42Z",
}

# 001 (data contract), verbatim
SEED_001 = {
    "job_id": "backup-pgtest1-1728518400",
    "job_type": "backup",
    "status": "running",
    "current_phase": "transferring",
    "bytes_transferred": 45678901234,
    "total_bytes": 109521739776,
    "transfer_speed_bps": 125000000,
    "eta_seconds": 512,
    "progress_percent": 42.5,
    "disks": [
        {
            "disk_index": 0,
            "bytes_transferred": 42949672960,
            "total_bytes": 102000000000,
            "status": "transferring",
            "progress_percent": 42.1,
        },
        {
            "disk_index": 1,
            "bytes_transferred": 2729228274,
            "total_bytes": 7521739776,
            "status": "pending",
            "progress_percent": 0.0,
        },
    ],
    "error": None,
    "timestamp": "2025-10-10T14:23:45Z",
}

# 002 (manual curl proof of concept), verbatim
SEED_002 = {
    "job_id": "backup-test-123",
    "job_type": "backup",
    "status": "running",
    "current_phase": "transferring",
    "bytes_transferred": 1073741824,
    "total_bytes": 5368709120,
    "transfer_speed_bps": 104857600,
    "eta_seconds": 120,
    "progress_percent": 20.0,
    "timestamp": "2025-10-10T12:00:00Z",
    "disks": [],
}

# 003 (troubleshooting probe), verbatim: an old sender's minimal body
SEED_003 = {"job_type": "backup", "status": "running"}


def post(api, job_type, job_id, body, **kw):
    return api.post(f"/api/v1/telemetry/{job_type}/{job_id}", json=body, headers=AUTH, **kw)


def test_seed_000_payload(api):
    register(api, "backup-job-000", disks=(107374182400,))
    assert post(api, "backup", "backup-job-000", SEED_000).status_code == 204
    got = api.get("/api/v1/jobs/backup-job-000").json()
    assert got["status"] == "running" and got["current_phase"] == "transferring"
    assert got["bytes_transferred"] == 32212254720 and got["total_bytes"] == 107374182400
    assert got["transfer_speed_bps"] == 3221225472 and got["eta_seconds"] == 23
    assert got["progress_percent"] == 30.0
    assert got["last_telemetry_at"] == "2025-10-10T14:35:42Z"
    assert got["disks"][0]["bytes_transferred"] == 32212254720
    assert got["disks"][0]["progress_percent"] == 30.0
    assert got["disks"][0]["status"] == "transferring"


def test_seed_001_payload(api):
    register(api, "backup-pgtest1-1728518400", disks=(102000000000, 7521739776))
    assert post(api, "backup", "backup-pgtest1-1728518400", SEED_001).status_code == 204
    got = api.get("/api/v1/jobs/backup-pgtest1-1728518400").json()
    assert got["bytes_transferred"] == 45678901234 and got["total_bytes"] == 109521739776
    assert got["progress_percent"] == 42.5 and got["eta_seconds"] == 512
    assert [(d["bytes_transferred"], d["size_bytes"], d["status"], d["progress_percent"])
            for d in got["disks"]] == [(42949672960, 102000000000, "transferring", 42.1),
                                       (2729228274, 7521739776, "pending", 0.0)]


def test_seed_002_and_003_payloads(api):
    register(api, "backup-test-123", disks=())
    assert post(api, "backup", "backup-test-123", SEED_002).status_code == 204
    got = api.get("/api/v1/jobs/backup-test-123").json()
    assert (got["bytes_transferred"], got["total_bytes"], got["progress_percent"]) == (1073741824, 5368709120, 20.0)
    assert post(api, "backup", "backup-test-123", SEED_003).status_code == 204
    assert api.get("/api/v1/jobs/backup-test-123").json()["status"] == "running"


def test_completion_through_the_legacy_endpoint_sums_the_disks(api):
    register(api, "backup-pgtest1-1728518400", disks=(102000000000, 7521739776))
    post(api, "backup", "backup-pgtest1-1728518400", SEED_001)
    done = dict(SEED_001, status="completed", current_phase="done", bytes_transferred=0,
                timestamp="2025-10-10T15:00:00Z",
                disks=[dict(SEED_001["disks"][0], bytes_transferred=102000000000, status="completed"),
                       dict(SEED_001["disks"][1], bytes_transferred=7521739776, status="completed")])
    assert post(api, "backup", "backup-pgtest1-1728518400", done).status_code == 204
    got = api.get("/api/v1/jobs/backup-pgtest1-1728518400").json()
    assert got["status"] == "completed"
    assert got["bytes_transferred"] == 109521739776
    assert got["completed_at"] == "2025-10-10T15:00:00Z"
    # terminal: a late running update changes nothing
    assert post(api, "backup", "backup-pgtest1-1728518400", SEED_001).status_code == 204
    assert api.get("/api/v1/jobs/backup-pgtest1-1728518400").json()["status"] == "completed"


def test_unknown_job_is_404(api):
    r = post(api, "backup", "backup-nope", SEED_000)
    assert r.status_code == 404 and "backup-nope" in r.json()["detail"]
    register(api, "rep-1", job_type="replication")
    assert post(api, "backup", "rep-1", SEED_003).status_code == 404


@pytest.mark.parametrize("raw, why", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"status": "exploded"}', "status"),
    (b'{"bytes_transferred": -5}', "bytes_transferred"),
    (b'{"progress_percent": 250}', "progress_percent"),
    (b'{"disks": [{"bytes_transferred": 1}]}', "disk_index"),
    (b'{"job_id": "other"}', "differs"),
    (b'{"status": "stalled"}', "status"),
])
def test_invalid_bodies_are_400_with_a_clear_message(api, raw, why):
    register(api, "j400")
    r = api.post("/api/v1/telemetry/backup/j400", content=raw, headers=AUTH | {"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert why in r.json()["detail"]
    assert api.get("/api/v1/jobs/j400").json()["status"] == "pending"  # nothing stored


def test_legacy_and_agent_telemetry_end_in_the_same_state(client_factory, hub_mysql_url, sqlite_url,
                                                          influxdb, influx_db, write_points):
    """Same values once through InfluxDB + reconciler, once through the legacy endpoint."""
    from ._helpers import ago
    t = ago(3).replace(microsecond=0)
    via_agent = client_factory(hub_mysql_url)
    via_legacy = client_factory(sqlite_url)
    for c in (via_agent, via_legacy):
        register(c, "same", disks=(1000, 3000))
    write_points(JobPoint("same", t, transferred=1500, total=4000, speed=300, eta=8, duration=5,
                          disks=[DiskPoint(1000, 1000), DiskPoint(500, 3000)]))
    rec = Reconciler(make_settings(hub_mysql_url, influx_url=influxdb.url, influx_db=influx_db))
    try:
        rec.run_once()
    finally:
        rec.stop()
    body = {"status": "running", "current_phase": "transferring", "bytes_transferred": 1500,
            "total_bytes": 4000, "transfer_speed_bps": 300, "eta_seconds": 8, "progress_percent": 37.5,
            "timestamp": t.isoformat() + "Z",
            "disks": [{"disk_index": 0, "bytes_transferred": 1000, "total_bytes": 1000, "status": "transferring"},
                      {"disk_index": 1, "bytes_transferred": 500, "total_bytes": 3000, "status": "transferring"}]}
    assert post(via_legacy, "backup", "same", body).status_code == 204
    a, b = via_agent.get("/api/v1/jobs/same").json(), via_legacy.get("/api/v1/jobs/same").json()
    ignore = {"created_at", "updated_at", "started_at", "average_speed_bps", "duration_seconds", "last_progress_at"}
    assert {k: v for k, v in a.items() if k not in ignore} == {k: v for k, v in b.items() if k not in ignore}
