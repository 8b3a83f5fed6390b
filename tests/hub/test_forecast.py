"""Property tests of the early-warning rules (state/_forecast.py): the prediction band, the speed
against the usual, the conditions' since-times and the webhook's late/slow marks."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobpulse.hub.state import (
    COMPLETED,
    FAILED,
    HORIZON,
    LATE,
    RUNNING,
    SLOW,
    STALLED,
    JobState,
    forecast,
    mark_warning,
    seconds_to_completion,
    usual_speed,
)

pytestmark = pytest.mark.early_warning

T0 = datetime(2026, 12, 3, 1, 0)
speeds = st.none() | st.integers(min_value=0, max_value=10**10)
remaining = st.integers(min_value=0, max_value=10**13)


def running(**kw) -> JobState:
    base = dict(id="j", job_type="backup", machine="vm", status=RUNNING, current_phase="transferring",
                total_bytes=1000, bytes_transferred=0, transfer_speed_bps=10, average_speed_bps=10,
                last_telemetry_at=T0)
    return JobState(**(base | kw))


@given(remaining, speeds, speeds)
def test_the_band_never_ends_before_the_optimistic_eta(left, speed, average):
    optimistic, pessimistic = seconds_to_completion(left, speed, average)
    if optimistic is not None:
        assert pessimistic is not None and pessimistic >= optimistic
        assert optimistic == pytest.approx(min(HORIZON.total_seconds(), left / speed))
    if pessimistic is not None:
        assert pessimistic <= HORIZON.total_seconds()


@given(remaining, remaining, speeds, speeds)
def test_the_prediction_is_monotone_in_remaining_bytes(a, b, speed, average):
    less, more = sorted((a, b))
    lo, hi = seconds_to_completion(less, speed, average), seconds_to_completion(more, speed, average)
    for x, y in zip(lo, hi):
        assert (x is None) == (y is None)
        if x is not None:
            assert x <= y


@given(st.integers(0, 10**12), st.integers(1, 10**12), st.integers(0, 10**9), st.integers(0, 10**9))
def test_forecast_band_on_a_job(done, total, speed, average):
    s = forecast(running(total_bytes=total, bytes_transferred=min(done, total), transfer_speed_bps=speed,
                         average_speed_bps=average), None, 0.5)
    if s.predicted_completion_at is not None and s.predicted_completion_latest_at is not None:
        assert s.predicted_completion_latest_at >= s.predicted_completion_at >= T0
    if speed > 0:
        assert s.predicted_completion_at is not None
    # idempotent: the reconcile windows overlap, so the same state is forecast again and again
    assert forecast(s, None, 0.5) == s


def test_a_burst_does_not_hide_a_late_job():
    # 900 bytes left; a burst to 100 B/s after hours at 1 B/s on average
    s = forecast(running(bytes_transferred=100, transfer_speed_bps=100, average_speed_bps=1,
                         deadline=T0 + timedelta(seconds=60)), None, 0.5)
    assert s.predicted_completion_at == T0 + timedelta(seconds=9)
    assert s.predicted_completion_latest_at == T0 + timedelta(seconds=900)
    assert s.past_deadline_since == T0


def test_phases_that_move_no_bytes_hold_the_prediction():
    s = forecast(running(bytes_transferred=500), 20, 0.5)
    assert s.predicted_completion_at == T0 + timedelta(seconds=50) and s.speed_vs_usual == 0.5
    later = T0 + timedelta(minutes=5)
    held = forecast(dataclasses.replace(s, current_phase="finalizing", transfer_speed_bps=0, last_telemetry_at=later),
                    20, 0.5)
    assert held.predicted_completion_at == s.predicted_completion_at
    assert held.predicted_completion_latest_at == s.predicted_completion_latest_at
    assert held.speed_vs_usual == s.speed_vs_usual and held.below_usual_since is None


def test_a_job_past_its_deadline_is_late_even_without_a_speed():
    s = forecast(running(transfer_speed_bps=0, average_speed_bps=0, deadline=T0 - timedelta(seconds=1)), None, 0.5)
    assert s.predicted_completion_at is None and s.past_deadline_since == T0


def test_conditions_keep_their_start_and_end_when_they_stop():
    deadline = T0 + timedelta(seconds=60)
    s = forecast(running(deadline=deadline, transfer_speed_bps=1, average_speed_bps=1), 100, 0.5)
    assert s.past_deadline_since == T0 and s.below_usual_since == T0 and s.speed_vs_usual == 0.01
    t1 = T0 + timedelta(seconds=30)
    still = forecast(dataclasses.replace(s, last_telemetry_at=t1, bytes_transferred=10), 100, 0.5)
    assert still.past_deadline_since == T0 and still.below_usual_since == T0
    fast = forecast(dataclasses.replace(still, transfer_speed_bps=1000, average_speed_bps=1000), 100, 0.5)
    assert fast.past_deadline_since is None and fast.below_usual_since is None and fast.speed_vs_usual == 10


def test_no_usual_speed_no_ratio():
    assert forecast(running(), None, 0.5).speed_vs_usual is None
    assert usual_speed([10, 20]) is None and usual_speed([10, 20, None, 0]) is None
    assert usual_speed([10, 30, 20]) == 20 and usual_speed([10, 20, 30, 40]) == 25


@given(st.lists(st.integers(1, 10**10), min_size=3, max_size=30))
def test_usual_speed_is_the_median(values):
    u = usual_speed(values)
    assert min(values) <= u <= max(values)
    assert sum(v < u for v in values) <= len(values) // 2 and sum(v > u for v in values) <= len(values) // 2


def test_an_ended_job_keeps_its_figures_and_clears_its_conditions():
    s = forecast(running(deadline=T0, transfer_speed_bps=1, average_speed_bps=1), 100, 0.5)
    done = forecast(dataclasses.replace(s, status=COMPLETED, completed_at=T0 + timedelta(seconds=5)), 100, 0.5)
    assert done.predicted_completion_at == done.predicted_completion_latest_at == T0 + timedelta(seconds=5)
    assert done.past_deadline_since is None and done.below_usual_since is None
    failed = forecast(dataclasses.replace(s, status=FAILED), 100, 0.5)
    assert failed.predicted_completion_at == s.predicted_completion_at


def test_a_stalled_job_holds_its_prediction():
    s = forecast(running(bytes_transferred=500), 20, 0.5)
    stalled = forecast(dataclasses.replace(s, status=STALLED), 20, 0.5)
    assert stalled.predicted_completion_at == s.predicted_completion_at and stalled.below_usual_since is None


@pytest.mark.parametrize("kind, flag, since", [(LATE, "late", "late_since"), (SLOW, "slow", "slow_since")])
def test_warning_marks_set_and_clear_without_a_status_change(kind, flag, since):
    job = running()
    marked = mark_warning(job, kind, True, T0)
    assert marked.applied and getattr(marked.state, flag) and getattr(marked.state, since) == T0
    assert marked.state.status == RUNNING
    again = mark_warning(marked.state, kind, True, T0 + timedelta(seconds=9))
    assert not again.applied and getattr(again.state, since) == T0
    cleared = mark_warning(marked.state, kind, False, T0)
    assert cleared.applied and not getattr(cleared.state, flag) and getattr(cleared.state, since) is None
    assert not mark_warning(job, kind, False, T0).applied
    ended = mark_warning(dataclasses.replace(marked.state, status=COMPLETED), kind, False, T0)
    assert not ended.applied and getattr(ended.state, flag), "a finished job's marks are frozen"
