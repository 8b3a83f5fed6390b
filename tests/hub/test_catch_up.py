"""Catching up after InfluxDB timed out: the reconciler must not retry an ever wider window
(it grows from the last point seen, so each retry would be slower), but read the backlog in
slices it can answer, and end on the newest state exactly.

InfluxDB here is the real one; what makes it "overloaded" is a transport in front of it that
lets a /query time out when its window is wider than ``WIDEST`` seconds, as an overloaded
server does for a long catch-up read."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from urllib.parse import parse_qs

import httpx
import pytest

from jobpulse.hub.core.clock import utcnow
from jobpulse.hub.influx import InfluxClient, InfluxTimeoutError
from jobpulse.hub.reconciler import Reconciler
from jobpulse.semconv import DiskStatus, Phase, Status

from tests.support.line_protocol import DiskPoint, JobPoint

from ._helpers import ago, make_settings, register

WIDEST = 90.0
_SINCE = re.compile(r"time > '([^']+)Z'")
_UNTIL = re.compile(r"time <= '([^']+)Z'")


class TimesOutOnWideWindows(httpx.BaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.timeouts = 0
        self.widths: list[float] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/query":
            request.read()
            q = parse_qs(request.content.decode())["q"][0]
            since = _SINCE.search(q)
            if since:
                until = _UNTIL.search(q)
                end = datetime.fromisoformat(until.group(1)) if until else utcnow()
                width = (end - datetime.fromisoformat(since.group(1))).total_seconds()
                self.widths.append(width)
                if width > WIDEST:
                    self.timeouts += 1
                    raise httpx.ReadTimeout("timed out (the test's overloaded InfluxDB)", request=request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def slow():
    t = TimesOutOnWideWindows()
    yield t
    t.close()


@pytest.mark.parametrize("influx_major", [1, pytest.param(2, marks=pytest.mark.influxdb2)], indirect=True)
def test_a_backlog_too_wide_for_one_query_is_read_in_slices(client_factory, db_url, influxdb, influx_db,
                                                             write_points, slow):
    client = client_factory(db_url)
    job = f"backlog-{uuid.uuid4().hex[:8]}"
    register(client, job, disks=(6000, 6000))
    # Ten minutes of telemetry the hub has not read yet (it was down), ending in completion.
    points = [JobPoint(job, ago(600 - 30 * k), transferred=500 * k, total=12000, speed=100.0,
                       disks=[DiskPoint(250 * k, 6000), DiskPoint(250 * k, 6000)]) for k in range(20)]
    points.append(JobPoint(job, ago(5), status=Status.COMPLETED, phase=Phase.DONE, transferred=12000, total=12000,
                           disks=[DiskPoint(6000, 6000, DiskStatus.COMPLETED)] * 2))
    write_points(*points)
    settings = make_settings(db_url, influx_url=influxdb.url, influx_db=influx_db, reconcile_max_lookback=900,
                             influx_token=influxdb.token("hub") or None)
    rec = Reconciler(settings, influx=InfluxClient.from_settings(settings, transport=slow))
    try:
        results, failures = [], 0
        for _ in range(30):
            try:
                r = rec.run_once()
            except InfluxTimeoutError:
                failures += 1
                continue
            results.append(r)
            if not r.catching_up:
                break
        assert results and not results[-1].catching_up, f"still behind after 30 cycles ({failures} timed out)"
        assert any(r.catching_up for r in results)  # it did read in slices
        assert 0 < failures <= 5  # a few halvings, not a timeout per cycle
        assert max(slow.widths[-3:]) <= WIDEST
        got = client.get(f"/api/v1/jobs/{job}").json()
        assert got["status"] == "completed"
        assert got["bytes_transferred"] == 12000
        assert [d["status"] for d in got["disks"]] == ["completed", "completed"]
    finally:
        rec.stop()
        rec.influx.close()


def test_a_timeout_is_reported_as_such(influxdb, influx_db, slow):
    settings = make_settings("sqlite://", influx_url=influxdb.url, influx_db=influx_db,
                                            influx_token=influxdb.token("hub") or None)
    c = InfluxClient.from_settings(settings, transport=slow)
    try:
        with pytest.raises(InfluxTimeoutError, match="no answer within"):
            c.query("SELECT \"gauge\" FROM \"jobpulse.job.status\" WHERE time > '2000-01-01T00:00:00.000000Z'")
    finally:
        c.close()
