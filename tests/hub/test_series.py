"""Chart series from the real InfluxDB, downsampled to a step."""

from __future__ import annotations

from datetime import timedelta

from jobpulse import semconv as sc

from tests.support.line_protocol import DiskPoint, JobPoint

from ._helpers import register, utcnow


def test_series_downsampled_per_job_and_per_disk(client_factory, sqlite_url, influxdb, influx_db, write_points):
    api = client_factory(sqlite_url, influx_url=influxdb.url, influx_db=influx_db)
    register(api, "chart", disks=(100, 100))
    start = (utcnow() - timedelta(minutes=2)).replace(second=0, microsecond=0)
    for i in range(12):  # one export every 5 s for a minute
        write_points(JobPoint("chart", start + timedelta(seconds=5 * i), transferred=10 * i, total=200,
                              speed=1000 + i, disks=[DiskPoint(5 * i, 100), DiskPoint(5 * i, 100)]))
    params = {"step": "30s", "start": start.isoformat() + "Z", "end": (start + timedelta(seconds=59)).isoformat() + "Z"}
    job = api.get("/api/v1/jobs/chart/series", params=params | {"metric": sc.JOB_TRANSFERRED.name}).json()
    assert job["aggregate"] == "last" and job["step_seconds"] == 30 and job["unit"] == "By"
    assert len(job["series"]) == 1 and job["series"][0]["disk_index"] is None
    assert [p["value"] for p in job["series"][0]["points"]] == [50.0, 110.0]
    speed = api.get("/api/v1/jobs/chart/series", params=params | {"metric": sc.JOB_SPEED.name}).json()
    assert speed["aggregate"] == "mean"
    assert [p["value"] for p in speed["series"][0]["points"]] == [1002.5, 1008.5]
    disks = api.get("/api/v1/jobs/chart/series", params=params | {"metric": sc.DISK_TRANSFERRED.name}).json()
    assert [s["disk_index"] for s in disks["series"]] == [0, 1]
    assert [p["value"] for p in disks["series"][1]["points"]] == [25.0, 55.0]


def test_series_input_errors(client_factory, sqlite_url, influxdb, influx_db):
    api = client_factory(sqlite_url, influx_url=influxdb.url, influx_db=influx_db)
    register(api, "chart2")
    base = "/api/v1/jobs/chart2/series"
    # metric (an enum), step (a pattern) and the times (RFC 3339) are checked by the document's schema
    assert api.get(base, params={"metric": "DROP DATABASE x"}).status_code == 422
    assert api.get(base, params={"metric": sc.JOB_PROGRESS.name, "step": "10s; DROP"}).status_code == 422
    for bad_time in ("0.5", "2020-01-01", "yesterday"):
        r = api.get(base, params={"metric": sc.JOB_PROGRESS.name, "start": bad_time})
        assert r.status_code == 422 and "RFC 3339" in r.text, bad_time
    # a window outside what InfluxDB can hold is clamped, never a 503
    far = api.get(base, params={"metric": sc.JOB_PROGRESS.name, "step": "1h", "start": "1656-11-22T20:07:49Z",
                                "end": "1999-01-01T00:00:00Z"})
    assert far.status_code == 400 and "too many points" in far.json()["detail"]
    assert api.get(base, params={"metric": sc.JOB_PROGRESS.name, "step": "1s",
                                 "start": "2020-01-01T00:00:00Z"}).status_code == 400
    assert api.get("/api/v1/jobs/nope/series", params={"metric": sc.JOB_PROGRESS.name}).status_code == 404
    ok = api.get(base, params={"metric": sc.JOB_PROGRESS.name})
    assert ok.status_code == 200 and ok.json()["series"] == []
