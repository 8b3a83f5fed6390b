"""Speed and ETA on known inputs, driven by a fake clock."""

import math

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from jobpulse.agent import Phase, SpeedEstimator, configure

from ._helpers import FakeClock

MB = 1_000_000


def test_constant_rate_gives_exact_speed_and_eta():
    est = SpeedEstimator(time_constant=5.0, warmup=2.0)
    t, done = 0.0, 0
    est.update(t, done, True)
    for _ in range(10):  # 1 s at 100 MB/s
        t += 0.1
        done += 10 * MB
        est.update(t, done, True)
    assert est.speed(True) == pytest.approx(100 * MB)
    assert est.eta(500 * MB, True) is None  # not enough data yet: absent rather than wrong
    for _ in range(20):
        t += 0.1
        done += 10 * MB
        est.update(t, done, True)
    assert est.eta(500 * MB, True) == pytest.approx(5.0)


def test_step_change_is_smoothed_with_the_time_constant():
    est = SpeedEstimator(time_constant=5.0, warmup=0.0)
    est.update(0.0, 0, True)
    est.update(1.0, 100, True)  # seeds at 100 B/s
    done, t = 100, 1.0
    for _ in range(50):  # 5 s at 200 B/s, in 0.1 s steps
        t += 0.1
        done += 20
        est.update(t, done, True)
    expected = 200 - 100 * math.exp(-1.0)  # one time constant later
    assert est.speed(True) == pytest.approx(expected, rel=1e-6)


def test_eta_frozen_and_speed_zero_in_quiet_phases():
    est = SpeedEstimator(time_constant=5.0, warmup=1.0)
    est.update(0.0, 0, True)
    for i in range(1, 31):
        est.update(i * 0.1, i * 1000, True)
    eta = est.eta(10_000, True)
    assert eta == pytest.approx(1.0)
    for i in range(31, 200):  # a long quiet phase
        est.update(i * 0.1, 30_000, False)
    assert est.speed(False) == 0.0
    assert est.eta(10_000, False) == eta
    est.update(20.1, 31_000, True)  # resuming does not restart from zero
    assert est.speed(True) > 5000


def test_watcher_drives_job_speed_and_eta():
    clock = FakeClock()
    tel = configure(reader=InMemoryMetricReader(), clock=clock, watch_interval=None)
    try:
        job = tel.start_job("backup", "vm", [100 * MB], job_id="spd")
        job.set_phase(Phase.TRANSFERRING)
        tel.watcher.tick()
        for _ in range(30):
            clock.advance(0.2)
            job.advance(0, 2 * MB)  # 10 MB/s
            tel.watcher.tick()
        snap = job.snapshot()
        assert snap.transfer_speed_bps == pytest.approx(10 * MB)
        assert snap.eta_seconds == pytest.approx(4.0)  # 40 MB left at 10 MB/s
        job.set_phase(Phase.FINALIZING)
        clock.advance(30)
        tel.watcher.tick()
        quiet = job.snapshot()
        assert quiet.transfer_speed_bps == 0.0 and quiet.eta_seconds == pytest.approx(4.0)
    finally:
        tel.shutdown()
