"""The narrowed cycle: a probe finds the jobs that reported, and only their series are read.
Against the real InfluxDB, the narrowed read must give the reconciler exactly what the whole
window gives for those jobs, hostile ids included, and the reconciler must pick it only when
few of the jobs it has seen reported."""

from __future__ import annotations

import uuid

import pytest

from jobpulse.hub.influx import (InfluxClient, cycle_query, narrowed_cycle_query, parse_cycle_result,
                                 parse_probe_result, probe_query)
from jobpulse.hub.reconciler import Reconciler
from jobpulse.semconv import DiskStatus, Status

from tests.support.line_protocol import DiskPoint, JobPoint

from ._helpers import ago, make_settings, register

# Quotes, backslashes and every regex metacharacter; "a.c" must not match "abc" (nor "a+" "aa").
HOSTILE = ["it's", 'quo"te', "back\\slash", "or' OR \"job.id\" =~ /.*/ OR 'x", "sp ace,comma=eq",
           "a.c", "abc", "a+", "aa", "x/y\\/z", "(^$|)", "[x]{2}?*", "ünï-cödé"]


def jobs_of(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{uuid.uuid4().hex[:6]}-{i}" for i in range(n)]


@pytest.fixture
def influx(influxdb, influx_db):
    c = InfluxClient.from_settings(make_settings("sqlite://", influx_url=influxdb.url, influx_db=influx_db,
                                            influx_token=influxdb.token("hub") or None))
    yield c
    c.close()


def point(job_id: str, seconds_ago: float, done: int, **kw) -> JobPoint:
    return JobPoint(job_id, ago(seconds_ago), transferred=done, total=4000, speed=10.0 + done, eta=3.0,
                    disks=[DiskPoint(done // 2, 2000), DiskPoint(done - done // 2, 2000, DiskStatus.PENDING)], **kw)


@pytest.mark.parametrize("influx_major", [1, pytest.param(2, marks=pytest.mark.influxdb2)], indirect=True)
def test_narrowed_read_equals_the_whole_window_for_the_jobs_it_names(influx, write_points):
    ids = jobs_of("n", 150) + HOSTILE
    old = jobs_of("quiet", 20)
    write_points(*[point(j, 300, 100) for j in old])  # before the window: not reported
    write_points(*[point(j, 12, 1000 + k) for k, j in enumerate(ids)])
    write_points(*[point(j, 6, 2000 + k, error="disk 1: read failed" if k % 7 == 0 else None,
                         status=Status.FAILED if k % 7 == 0 else Status.RUNNING)
                   for k, j in enumerate(ids)])
    since = ago(60)

    reported = parse_probe_result(influx.query(probe_query(since)))
    assert reported == set(ids)

    full = parse_cycle_result(influx.query(cycle_query(since)))
    narrowed = parse_cycle_result(influx.query(narrowed_cycle_query(since, reported)))
    assert set(full) == set(ids)
    assert narrowed == full
    # in several statements of a few ids each, the same
    assert parse_cycle_result(influx.query(narrowed_cycle_query(since, reported, chunk=7))) == full
    assert narrowed[ids[0]].error_message == "disk 1: read failed"
    assert narrowed[ids[0]].bytes_transferred == 2000 and len(narrowed[ids[0]].disks) == 2

    some = set(ids[:3] + ["it's", "a.c", "a+", "x/y\\/z", "(^$|)"])
    part = parse_cycle_result(influx.query(narrowed_cycle_query(since, some)))
    assert part == {j: full[j] for j in some}


def test_a_cycle_with_few_reporting_jobs_reads_only_theirs(client_factory, db_url, influxdb, influx_db,
                                                           write_points):
    client = client_factory(db_url)
    ids = jobs_of("few", 10)
    for j in ids:
        register(client, j, disks=(2000, 2000))
    rec = Reconciler(make_settings(db_url, influx_url=influxdb.url, influx_db=influx_db, reconcile_overlap=0))
    try:
        write_points(*[point(j, 20, 500) for j in ids])
        first = rec.run_once()
        assert first.written == 10 and not first.narrowed  # a cold start reads the whole window
        # every job reports again: too many for a narrowed read
        write_points(*[point(j, 12, 1000) for j in ids])
        assert not rec.run_once().narrowed
        # one job of ten reports: only its series are read, and its state is exact
        write_points(point(ids[3], 5, 3000))
        few = rec.run_once()
        assert few.narrowed and few.observed == 1 and few.written == 1
        got = client.get(f"/api/v1/jobs/{ids[3]}").json()
        assert got["bytes_transferred"] == 3000
        assert [d["bytes_transferred"] for d in got["disks"]] == [1500, 1500]
        assert client.get(f"/api/v1/jobs/{ids[4]}").json()["bytes_transferred"] == 1000
        # nothing new: no job's series is read at all, and nothing is written
        idle = rec.run_once()
        assert idle.narrowed and idle.observed == 0 and idle.written == 0
    finally:
        rec.stop()


def test_narrowing_is_off_at_ratio_zero(db_url, influxdb, influx_db, write_points, client_factory):
    client = client_factory(db_url)
    ids = jobs_of("off", 5)
    for j in ids:
        register(client, j)
    rec = Reconciler(make_settings(db_url, influx_url=influxdb.url, influx_db=influx_db,
                                   reconcile_overlap=0, reconcile_narrow_ratio=0))
    try:
        write_points(*[point(j, 20, 500) for j in ids])
        rec.run_once()
        write_points(point(ids[0], 5, 900))
        r = rec.run_once()
        assert not r.narrowed and r.written == 1
    finally:
        rec.stop()
