"""The collector or InfluxDB restarting mid-job loses nothing: the job's final values still land."""

from __future__ import annotations

import time

import pytest

from jobpulse import semconv
from tests.support.influx import ON_BOTH_INFLUXDB
from tests.support.wait import wait_for

from .conftest import finish, last_values, new_job_id, start_copy, wait_final_totals

pytestmark = pytest.mark.e2e


def _wait_transferring(influxdb, job_id):
    wait_for(lambda: last_values(influxdb, job_id, semconv.JOB_TRANSFERRED).get(None, 0) > 0, 30, interval=0.25,
             what="the job to start reporting")


@ON_BOTH_INFLUXDB
def test_collector_crash_and_restart_mid_job(agent_env, collector, influxdb, disks, tmp_path):
    job_id = new_job_id("collector-restart")
    proc = start_copy(agent_env, disks, tmp_path / "dest", job_id, "1M")
    try:
        _wait_transferring(influxdb, job_id)
        collector.kill()
        time.sleep(3)
        collector.start()
        summary = finish(proc)
    finally:
        if not collector.running:
            collector.start()
    assert summary["status"] == "completed"
    wait_final_totals(influxdb, job_id, disks)


@ON_BOTH_INFLUXDB
def test_influxdb_outage_with_collector_restart_loses_nothing(agent_env, collector, influxdb, disks, tmp_path):
    """InfluxDB goes away mid-job; the job ends while it is down; the collector is restarted with
    the final values still queued: its on-disk queue delivers them once InfluxDB is back."""
    job_id = new_job_id("influx-restart")
    proc = start_copy(agent_env, disks, tmp_path / "dest", job_id, "2M")
    try:
        _wait_transferring(influxdb, job_id)
        influxdb.stop()
        summary = finish(proc)
        time.sleep(2)  # the collector's batch has been handed to its queue
        collector.restart()
        influxdb.start()
    finally:
        if not influxdb.running:
            influxdb.start()
        if not collector.running:
            collector.start()
    assert summary["status"] == "completed"
    wait_final_totals(influxdb, job_id, disks, timeout=90)
