"""When exports happen: periodic (<= 5 s), at start, on state changes, at each 10 %, at the end."""

import logging
import time

import pytest

from jobpulse.agent import DiskStatus, Phase, configure
from jobpulse import semconv as sc
from jobpulse.agent import _config
from tests.support.wait import wait_for

from ._helpers import RecordingExporter


@pytest.fixture
def tel_exp():
    exp = RecordingExporter()
    # Periodic export at 5 s: every trigger below must show up well before it.
    tel = configure(exporter=exp, spool=False, export_interval_millis=5000, watch_interval=0.05)
    yield tel, exp
    tel.shutdown()


def test_start_state_changes_and_deciles_export_at_once(tel_exp):
    tel, exp = tel_exp
    job = tel.start_job("backup", "vm", [1000], job_id="cad")
    wait_for(lambda: exp.count() >= 1, 1.0, interval=0.01, what="start to export at once")
    n = exp.count()
    job.set_phase(Phase.TRANSFERRING)
    wait_for(lambda: exp.count() > n, 1.0, interval=0.01, what="phase change to export at once")
    assert exp.last_points()[sc.JOB_PHASE.name][0][1] == Phase.TRANSFERRING
    n = exp.count()
    job.set_disk_status(0, DiskStatus.TRANSFERRING)
    wait_for(lambda: exp.count() > n, 1.0, interval=0.01, what="disk status change to export at once")
    for pct in (10, 20, 30):
        n = exp.count()
        job.advance(0, 100)
        wait_for(lambda: exp.count() > n, 1.0, interval=0.01, what=f"crossing {pct} % to export at once")
        assert exp.last_points()[sc.JOB_PROGRESS.name][0][1] >= pct
    n = exp.count()
    job.advance(0, 10)  # 31 %: no boundary, no extra export before the periodic one
    time.sleep(0.5)
    assert exp.count() == n


def test_end_flush_carries_final_values(tel_exp):
    tel, exp = tel_exp
    job = tel.start_job("backup", "vm", [500, 500], job_id="end")
    job.advance(0, 500)
    job.advance(1, 500)
    job.complete()  # blocks until the final export went out (bounded)
    last = exp.last_points()
    assert last[sc.JOB_STATUS.name][0][1] == sc.Status.COMPLETED
    assert last[sc.JOB_TRANSFERRED.name][0][1] == 1000


def test_periodic_export_runs_without_any_change():
    exp = RecordingExporter()
    tel = configure(exporter=exp, spool=False, export_interval_millis=200, watch_interval=0.05)
    try:
        tel.start_job("backup", "vm", [10], job_id="tick")
        time.sleep(1.1)
        assert exp.count() >= 5  # ~1 at start + one per 200 ms
    finally:
        tel.shutdown()


def test_an_export_brought_forward_restarts_the_periodic_wait():
    # The cadence is "never more than the interval without an export": a change that exported
    # at once is not followed by a periodic export on the old schedule.
    exp = RecordingExporter()
    tel = configure(exporter=exp, spool=False, export_interval_millis=1000, watch_interval=0.05)
    try:
        job = tel.start_job("backup", "vm", [10], job_id="restart")
        wait_for(lambda: exp.count() >= 1, 1.0, interval=0.01, what="the start to export at once")
        time.sleep(0.5)
        job.set_phase(Phase.TRANSFERRING)
        wait_for(lambda: exp.count() >= 2, 1.0, interval=0.01, what="the change to export at once")
        time.sleep(0.6)  # past the start's export + 1 s, short of the change's + 1 s
        assert exp.count() == 2
        wait_for(lambda: exp.count() >= 3, 2.0, interval=0.01, what="the periodic export after the change's")
    finally:
        tel.shutdown()


def test_export_interval_clamped_to_five_seconds(monkeypatch, caplog):
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "60000")
    monkeypatch.setattr(_config, "_warned_clamp", False)
    with caplog.at_level(logging.WARNING):
        assert _config.export_interval_ms() == 5000
        assert _config.export_interval_ms(30000) == 5000
    assert caplog.text.count("longer than") == 1
    assert _config.export_interval_ms(1000) == 1000
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "2000")
    assert _config.export_interval_ms() == 2000
    monkeypatch.delenv("OTEL_METRIC_EXPORT_INTERVAL")
    # The default leaves room for the export itself: points stay at most 5 s apart.
    assert _config.export_interval_ms() == 4500


def test_shutdown_twice_is_safe(tel_exp):
    tel, _ = tel_exp
    tel.shutdown()
    tel.shutdown()
