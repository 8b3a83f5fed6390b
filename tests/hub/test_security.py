"""Credentials on every write, no injection through ids, tags or filters, size limits,
and no stack trace ever reaching a client."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from jobpulse import semconv as sc

from tests.support.line_protocol import DiskPoint, JobPoint

from ._helpers import AUTH, TOKEN, register, utcnow

HOSTILE = [
    "q'uote",
    'double"quote',
    "back\\slash\\",
    "re.*|()[]{}^$+?",
    "') OR 1=1; DROP TABLE jobs; --",
    "\" OR \"\"=\"",
    "x' OR \"job.id\" =~ .* OR 'a'='a",
    "semi;colon, comma",
    "ünïcødé ✓",
]

def _in_line_protocol(job: str) -> bool:
    """Line protocol cannot carry a trailing backslash in a tag value."""
    return not job.endswith("\\")


WRITES = [
    ("post", "/api/v1/jobs", {"id": "w", "job_type": "backup", "machine": "m"}),
    ("post", "/api/v1/telemetry/backup/w", {"status": "running"}),
]


@pytest.mark.parametrize("method, path, body", WRITES)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"},
                                     {"Authorization": TOKEN}])
def test_writes_require_the_bearer_token(client, method, path, body, headers):
    r = getattr(client, method)(path, json=body, headers=headers)
    assert r.status_code == 401
    assert client.get("/api/v1/jobs").json()["count"] == 0


def test_writes_refused_when_no_token_is_configured(client_factory, sqlite_url):
    c = client_factory(sqlite_url, api_token=None)
    for method, path, body in WRITES:
        r = getattr(c, method)(path, json=body, headers={"Authorization": "Bearer "})
        assert r.status_code == 503 and "JOBPULSE_API_TOKEN" in r.json()["detail"]


@pytest.mark.parametrize("db", ["sqlite", "mysql"])
def test_hostile_ids_through_register_telemetry_series_and_filters(request, client_factory, db, influxdb,
                                                                   influx_db, write_points):
    url = request.getfixturevalue("sqlite_url" if db == "sqlite" else "hub_mysql_url")
    api = client_factory(url, influx_url=influxdb.url, influx_db=influx_db)
    for job in HOSTILE:
        register(api, job, machine=job[:255])
    # a neighbour whose series must never leak into a hostile id's query
    register(api, "victim", machine="victim")
    t = utcnow() - timedelta(seconds=5)
    write_points(JobPoint("victim", t, transferred=99, total=100, disks=[DiskPoint(99, 100)]))
    for job in HOSTILE:
        if _in_line_protocol(job):
            write_points(JobPoint(job, t, transferred=7, total=100, disks=[DiskPoint(7, 100)]))
    for job in HOSTILE:
        path = quote(job, safe="")
        r = api.post(f"/api/v1/telemetry/backup/{path}", json={"status": "running", "bytes_transferred": 3},
                     headers=AUTH)
        assert r.status_code == 204, (job, r.text)
        got = api.get(f"/api/v1/jobs/{path}").json()
        assert got["id"] == job and got["machine"] == job[:255] and got["bytes_transferred"] == 3
        listed = api.get("/api/v1/jobs", params={"machine": job}).json()
        assert [j["id"] for j in listed["data"]] == [job]
        series = api.get(f"/api/v1/jobs/{path}/series",
                         params={"metric": sc.JOB_TRANSFERRED.name, "step": "1m"})
        assert series.status_code == 200, (job, series.text)
        values = [p["value"] for line in series.json()["series"] for p in line["points"]]
        assert values == ([7.0] if _in_line_protocol(job) else [])
    assert api.get("/api/v1/jobs").json()["count"] == len(HOSTILE) + 1
    assert api.get("/api/v1/jobs/victim").json()["bytes_transferred"] == 0  # untouched


def test_body_size_is_limited(client):
    register(client, "big")
    huge = b'{"status": "running", "pad": "' + b"x" * (70 * 1024) + b'"}'
    r = client.post("/api/v1/telemetry/backup/big", content=huge,
                    headers=AUTH | {"content-type": "application/json"})
    assert r.status_code == 413 and "too large" in r.json()["detail"]

    def chunked():
        for _ in range(70):
            yield b"x" * 1024

    r = client.post("/api/v1/telemetry/backup/big", content=chunked(),
                    headers=AUTH | {"content-type": "application/json"})
    assert r.status_code == 413


def test_registration_is_validated(client):
    bad = [
        {"id": "", "job_type": "backup", "machine": "m"},
        {"id": "a/b", "job_type": "backup", "machine": "m"},
        {"id": "x" * 192, "job_type": "backup", "machine": "m"},
        {"id": "ok", "job_type": "format-c", "machine": "m"},
        {"id": "ok", "job_type": "backup", "machine": "m", "disks": [{"disk_index": 0}, {"disk_index": 0}]},
        {"id": "ok", "job_type": "backup", "machine": "m", "disks": [{"disk_index": -1}]},
        {"id": "ok", "job_type": "backup", "machine": "m", "is_admin": True},
    ]
    for body in bad:
        r = client.post("/api/v1/jobs", json=body, headers=AUTH)
        assert r.status_code == 422, body
        assert "detail" in r.json()
    assert client.get("/api/v1/jobs").json()["count"] == 0


def test_unexpected_errors_are_json_without_a_trace(client, monkeypatch):
    from jobpulse.hub.store import Store

    def boom(*_a, **_k):
        raise RuntimeError("secret internals at /srv/hub.py line 42")

    monkeypatch.setattr(Store, "machines_summary", boom)
    r = client.get("/api/v1/machines/summary")
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error"}
    assert "secret" not in r.text and "Traceback" not in r.text


DEEP_ARRAYS = b"[" * 20_000 + b"]" * 20_000
DEEP_DISKS = b'{"disks": ' + b"[" * 15_000 + b"]" * 15_000 + b"}"
WRITE_ENDPOINTS = [("/api/v1/jobs", AUTH), ("/api/v1/telemetry/backup/deep-1", AUTH),
                   ("/api/telemetry/snapshot", AUTH), ("/api/v1/alerts/grafana", None)]


@pytest.mark.parametrize("body", [DEEP_ARRAYS, DEEP_DISKS], ids=["nested-arrays", "nested-disks"])
@pytest.mark.parametrize("path, headers", WRITE_ENDPOINTS, ids=[p for p, _ in WRITE_ENDPOINTS])
def test_deeply_nested_bodies_are_a_plain_400_on_every_write(client, path, headers, body):
    from ._helpers import WEBHOOK_PASSWORD, WEBHOOK_USER

    kwargs = {"auth": (WEBHOOK_USER, WEBHOOK_PASSWORD)} if headers is None else {"headers": headers}
    kwargs.setdefault("headers", {})
    kwargs["headers"] = dict(kwargs["headers"], **{"Content-Type": "application/json"})
    r = client.post(path, content=body, **kwargs)
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": "request body nested too deep (limit 32 levels)"}


def test_nesting_depth_ignores_brackets_inside_strings():
    from jobpulse.hub.core.limits import nesting_depth

    assert nesting_depth(b'{"a": "[[[[\\"[[[", "b": [1, {"c": []}]}', 10) == 4
    assert nesting_depth(b"[" * 100, 5) == 6  # stops counting past the limit
