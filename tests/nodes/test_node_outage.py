"""The node collector's queue replaces the seed daemon's SQLite queue: the central collector
away for a minute loses none of the node's points."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from jobpulse import semconv
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e
OUTAGE = 60
BUCKET = 10


def _buckets(influxdb, node, start: float, end: float) -> list[int]:
    """Points of the node's uptime series per 10 s bucket between start and end (Unix seconds)."""
    q = (f'SELECT count("gauge") FROM "{semconv.NODE_UPTIME.name}" WHERE "{semconv.ATTR_HOST_NAME}" = '
         f"'{node}' AND time >= {int(start)}s AND time < {int(end)}s GROUP BY time({BUCKET}s) fill(0)")
    answer = influxdb.query(q, epoch="s")
    return [v[1] for r in answer["results"] for s in r.get("series", []) for v in s["values"]]


def test_a_central_collector_outage_leaves_no_gap(node, collector, influxdb):
    wait_for(lambda: sum(_buckets(influxdb, node.node_name, time.time() - 30, time.time() + 1)) > 0, 30,
             interval=0.5, what="the node's first points")
    down_at = time.time()
    collector.stop()
    try:
        time.sleep(OUTAGE)
    finally:
        collector.start()
    back_at = time.time()
    start = down_at - down_at % BUCKET + BUCKET  # whole buckets inside the outage
    end = start + (OUTAGE // BUCKET - 1) * BUCKET

    def filled():
        counts = _buckets(influxdb, node.node_name, start, end)
        return len(counts) == (end - start) // BUCKET and all(c >= 1 for c in counts) and counts

    counts = wait_for(filled, 120, interval=1, what="every 10 s of the outage in InfluxDB")
    caught_up = time.time() - back_at
    print(f"\nnode outage: {OUTAGE} s down; points per 10 s: {counts}; caught up {caught_up:.0f} s after the "
          f"collector returned ({datetime.now(UTC):%H:%M:%S})")
    # The queue retries from 5 s, doubling to at most 60 s: the backlog lands within one capped retry.
    assert caught_up <= 75
