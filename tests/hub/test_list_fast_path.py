"""The job list's body is built from the page's rows, not from models (routes/jobs.py): these
hold it byte for byte equal to JobsPublic's validated output, on each database kind, for every
filter, page and sort the endpoint takes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from jobpulse.hub import create_app
from jobpulse.hub.core.db import make_engine
from jobpulse.hub.migrations import upgrade
from jobpulse.hub.models import disks_table, jobs_table
from jobpulse.hub.schemas import JobPublic, JobsPublic
from jobpulse.hub.state import DISK_FIELDS, JOB_FIELDS, DiskState, JobState
from jobpulse.hub.store import Store

from ._helpers import make_settings

T0 = datetime(2026, 12, 2, 10, 0, 0)


def _states() -> list[JobState]:
    """Jobs that reach every kind of value a row holds: nulls and not, microseconds or none,
    ties on created_at (the id breaks them), text that JSON must escape, a node that the URL
    must quote, percentages from the DECIMAL(5,2) column, disks or none."""
    out = []
    for i in range(12):
        done = i % 3 == 0
        out.append(JobState(
            id=f"job-{i:02d}", job_type=("backup", "replication", "restore")[i % 3], machine=f"vm-{i % 2}",
            node=None if i % 4 == 0 else ("node a/ü?#", "n1")[i % 2],
            status="completed" if done else ("running", "pending", "stalled")[i % 3],
            current_phase="done" if done else "transferring",
            bytes_transferred=2**53 - 1 if i == 5 else i * 1000, total_bytes=2**53 - 1 if i == 5 else 12_000,
            transfer_speed_bps=i * 10, eta_seconds=None if done else i,
            progress_percent=(0.0, 33.33, 100.0, 12.5, 99.99)[i % 5],
            average_speed_bps=i * 7 if done else None,
            duration_seconds=(None, 0.1 + 0.2, 1e16, 4.5, 1e-7, 3600.0)[i % 6],
            error_message='disk "0" ü\n\tgone \x01 \u2028 end' if i == 7 else None,
            # pairs of jobs share a created_at; half of them without microseconds
            created_at=T0 + timedelta(minutes=i // 2, microseconds=0 if i % 4 < 2 else 123456),
            started_at=None if i % 3 == 1 else T0 + timedelta(minutes=i, seconds=1),
            completed_at=T0 + timedelta(hours=1, microseconds=i) if done else None,
            last_telemetry_at=None if i == 1 else T0 + timedelta(minutes=i, seconds=30),
            last_progress_at=None if i == 1 else T0 + timedelta(minutes=i, seconds=29),
            disks=tuple(DiskState(d, 4000, 1000 * d, ("pending", "transferring", "completed")[d], (0.0, 25.0, 66.67)[d])
                        for d in range(i % 4)),
        ))
    return out


def _store_rows(store: Store, states: list[JobState], version: datetime) -> None:
    """The rows as the hub's writer leaves them, put there without its code."""
    with store.engine.begin() as conn:
        conn.execute(delete(disks_table))
        conn.execute(delete(jobs_table))
        if states:
            conn.execute(jobs_table.insert(), [{f: getattr(s, f) for f in JOB_FIELDS} | {"updated_at": version}
                                               for s in states])
        disks = [{f: getattr(d, f) for f in DISK_FIELDS} | {"job_id": s.id} for s in states for d in s.disks]
        if disks:
            conn.execute(disks_table.insert(), disks)
    store.recount_jobs()  # as the leader does for rows its writer did not write


@pytest.fixture
def listed(db_url):
    store = Store(make_engine(db_url))
    states = _states()
    _store_rows(store, states, T0 + timedelta(days=1, microseconds=42))
    c = TestClient(create_app(make_settings(db_url, list_cache_seconds=0)), raise_server_exceptions=False)
    with c:
        yield c, store, states
    store.dispose()


def _expected(store: Store, states: list[JobState], params: dict) -> bytes:
    """What the endpoint must answer, found without its code: the filters and the order
    applied here, each job read alone and validated by its model."""
    after, before = (datetime.fromisoformat(params[k].removesuffix("Z")) if k in params else None
                     for k in ("created_after", "created_before"))

    def keep(s: JobState) -> bool:
        return all([
            params.get("status") in (None, s.status),
            params.get("job_type") in (None, s.job_type),
            params.get("machine") in (None, s.machine),
            after is None or s.created_at >= after,
            before is None or s.created_at < before,
        ])

    matches = sorted((s for s in states if keep(s)), key=lambda s: (s.created_at, s.id), reverse=True)
    skip, limit = params.get("skip", 0), params.get("limit", 100)
    data = []
    for s in matches[skip:skip + limit]:
        job = JobPublic.of(store.get_job(s.id))
        if not params.get("include_disks"):
            job = job.model_copy(update={"disks": []})
        data.append(job)
    return JobsPublic(data=data, count=len(matches)).model_dump_json().encode()


def _at(minutes: int, microseconds: int = 0) -> str:
    return (T0 + timedelta(minutes=minutes, microseconds=microseconds)).isoformat() + "Z"


@pytest.mark.parametrize("params", [
    {},
    {"include_disks": True},
    {"skip": 3, "limit": 4},
    {"skip": 1, "limit": 1, "include_disks": True},
    {"skip": 11},
    {"skip": 12},  # past the last job: no page rows to carry the count
    {"skip": 500, "status": "running"},
    {"status": "completed", "include_disks": True},
    {"job_type": "replication", "machine": "vm-1"},
    {"machine": "nobody"},
    {"created_after": _at(2), "created_before": _at(4, 123456)},  # after inclusive, before exclusive
    {"status": "running", "job_type": "backup", "machine": "vm-0", "created_after": _at(0),
     "created_before": _at(60), "skip": 0, "limit": 2, "include_disks": True},
], ids=repr)
def test_list_body_is_the_validated_models_json(listed, params):
    client, store, states = listed
    r = client.get("/api/v1/jobs", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.content == _expected(store, states, params)


def test_a_page_served_from_the_jobs_kept_json_is_the_same(listed):
    client, store, states = listed
    first = client.get("/api/v1/jobs", params={"include_disks": True}).content
    assert len(client.app.state.store.job_json) == 12  # each job's JSON, kept under its version
    assert client.get("/api/v1/jobs", params={"include_disks": True}).content == first
    assert first == _expected(store, states, {"include_disks": True})


def test_a_job_written_elsewhere_lists_its_new_state_at_once(listed):
    """Another replica's write clears nothing here: the page reads every job's version, so a job
    whose row moved on is read again, and the others still come from what was kept."""
    client, store, states = listed
    params = {"include_disks": True}
    client.get("/api/v1/jobs", params=params)
    moved = states[4]
    changed = JobState(**{**vars(moved), "bytes_transferred": moved.bytes_transferred + 1, "status": "failed",
                          "disks": tuple(DiskState(d.disk_index, d.size_bytes, d.size_bytes, "completed", 100.0)
                                         for d in moved.disks)})
    states = [changed if s.id == moved.id else s for s in states]
    with store.engine.begin() as conn:
        conn.execute(jobs_table.update().where(jobs_table.c.id == moved.id).values(
            bytes_transferred=changed.bytes_transferred, status="failed",
            updated_at=T0 + timedelta(days=2)))
        for d in changed.disks:
            conn.execute(disks_table.update().where(disks_table.c.job_id == moved.id,
                                                    disks_table.c.disk_index == d.disk_index)
                         .values(bytes_transferred=d.bytes_transferred, status=d.status,
                                 progress_percent=d.progress_percent))
    store.recount_jobs()  # that replica's writer moves the counts in its transaction
    body = client.get("/api/v1/jobs", params=params).content
    assert body == _expected(store, states, params)
    assert b'"status":"failed"' in body
    assert client.get("/api/v1/jobs", params={"status": "failed"}).json()["count"] == 1


def test_every_page_together_is_the_whole_list_once(listed):
    client, store, states = listed
    pages = [client.get("/api/v1/jobs", params={"skip": k, "limit": 5}).json() for k in range(0, 15, 5)]
    assert [p["count"] for p in pages] == [12, 12, 12]
    assert [j["id"] for p in pages for j in p["data"]] == [j["id"] for j in client.get("/api/v1/jobs").json()["data"]]
    assert len({j["id"] for p in pages for j in p["data"]}) == 12


def test_the_list_keeps_its_schema_in_the_openapi_document(client):
    get = client.get("/openapi.json").json()["paths"]["/api/v1/jobs"]["get"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/JobsPublic"}


@pytest.fixture(scope="module")
def sqlite_hub(tmp_path_factory):
    url = f"sqlite:///{(tmp_path_factory.mktemp('list') / 'hub.sqlite3').as_posix()}"
    upgrade(url)
    store = Store(make_engine(url))
    with TestClient(create_app(make_settings(url, list_cache_seconds=0))) as c:
        yield c, store
    store.dispose()


_text = st.text(max_size=12)
_time = st.datetimes()
_count = st.integers(min_value=0, max_value=2**53 - 1)
_percent = st.floats(min_value=0, max_value=100)
_disks = st.lists(st.builds(DiskState, disk_index=st.integers(0, 4095), size_bytes=_count, bytes_transferred=_count,
                            status=_text, progress_percent=_percent),
                  max_size=3, unique_by=lambda d: d.disk_index)
_state = st.builds(
    JobState, id=st.text(min_size=1, max_size=12), job_type=_text, machine=_text, node=st.none() | _text,
    status=_text, current_phase=_text, bytes_transferred=_count, total_bytes=_count, transfer_speed_bps=_count,
    eta_seconds=st.none() | st.integers(0, 2**31 - 1), progress_percent=_percent,
    average_speed_bps=st.none() | _count,
    duration_seconds=st.none() | st.floats(min_value=0, allow_nan=False, allow_infinity=False),
    error_message=st.none() | st.text(max_size=40), created_at=_time, started_at=st.none() | _time,
    completed_at=st.none() | _time, last_telemetry_at=st.none() | _time, last_progress_at=st.none() | _time,
    disks=_disks.map(lambda ds: tuple(sorted(ds, key=lambda d: d.disk_index))),
)


_VERSIONS_WRITTEN: set[datetime] = set()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(states=st.lists(_state, max_size=4, unique_by=lambda s: s.id), version=_time)
def test_any_stored_job_lists_as_its_model_does(sqlite_hub, states, version):
    """Whatever the text, numbers and times a row holds, the list's JSON is the validated
    models' JSON (SQLite: its REAL percentages are the ones the store rounds)."""
    client, store = sqlite_hub
    # A row's version changes with every write (the store's writer sets updated_at): examples
    # that draw the same version are written as the hub would, a microsecond apart.
    while version in _VERSIONS_WRITTEN:
        version += timedelta(microseconds=1)
    _VERSIONS_WRITTEN.add(version)
    _store_rows(store, states, version)
    for params in ({}, {"include_disks": True}):
        assert client.get("/api/v1/jobs", params=params).content == _expected(store, states, params)
