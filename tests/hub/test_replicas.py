"""Two reconcilers against one MariaDB: exactly one writes; the other takes over within
seconds when the leader stops or dies."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import create_engine, text

from jobpulse.hub.reconciler import Reconciler

from tests.support.line_protocol import DiskPoint, JobPoint

from ._helpers import make_settings, utcnow


def test_one_leader_and_failover(hub_mysql_url, influxdb, influx_db, write_points):
    settings = make_settings(hub_mysql_url, influx_url=influxdb.url, influx_db=influx_db, reconcile_interval=0.2)
    a = Reconciler(settings, reconciler_id="replica-a")
    b = Reconciler(settings, reconciler_id="replica-b")
    engine = create_engine(hub_mysql_url)
    try:
        a.start()
        b.start()
        write_points(JobPoint("ha-1", utcnow() - timedelta(seconds=5), transferred=1, total=10,
                              disks=[DiskPoint(1, 10)]))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (a.is_leader or b.is_leader):
            time.sleep(0.1)
        time.sleep(1.0)
        assert a.is_leader != b.is_leader  # exactly one
        leader, follower = (a, b) if a.is_leader else (b, a)
        assert follower.last_result is not None and not follower.last_result.leader
        with engine.connect() as conn:
            assert conn.execute(text("SELECT reconciler_id FROM pipeline_state")).scalar() == leader.id
            assert conn.execute(text("SELECT bytes_transferred FROM jobs WHERE id='ha-1'")).scalar() == 1

        stopped_at = time.monotonic()
        leader.stop()
        write_points(JobPoint("ha-1", utcnow() - timedelta(seconds=1), transferred=5, total=10,
                              disks=[DiskPoint(5, 10)]))
        took_over = None
        while time.monotonic() - stopped_at < 10:
            with engine.connect() as conn:
                row = conn.execute(text(
                    "SELECT p.reconciler_id, j.bytes_transferred FROM pipeline_state p, jobs j WHERE j.id='ha-1'"
                )).one()
            if row == (follower.id, 5):
                took_over = time.monotonic() - stopped_at
                break
            time.sleep(0.1)
        assert took_over is not None and took_over < 5
        assert follower.is_leader
    finally:
        a.stop()
        b.stop()
        engine.dispose()


def test_a_dead_leader_connection_frees_the_lock(hub_mysql_url, influxdb, influx_db):
    """The leader's MySQL session is killed (a crashed replica): the other acquires at once."""
    settings = make_settings(hub_mysql_url, influx_url=influxdb.url, influx_db=influx_db)
    a = Reconciler(settings, reconciler_id="replica-a")
    b = Reconciler(settings, reconciler_id="replica-b")
    engine = create_engine(hub_mysql_url)
    try:
        assert a.run_once().leader
        assert not b.run_once().leader
        with engine.begin() as conn:
            holder = conn.execute(text("SELECT IS_USED_LOCK('jobpulse-reconciler')")).scalar()
            conn.execute(text(f"KILL {int(holder)}"))
        time.sleep(0.2)
        assert b.run_once().leader
        assert not a.run_once().leader  # the old leader notices and steps down
    finally:
        a.stop()
        b.stop()
        engine.dispose()
