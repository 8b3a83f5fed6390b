"""Property tests of the pure state rules (hypothesis)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from jobpulse.hub.state import (
    COMPLETED,
    FAILED,
    PENDING,
    RUNNING,
    STALLED,
    STATUSES,
    TERMINAL,
    DiskObservation,
    JobState,
    Observation,
    apply_observation,
    format_silence,
    is_late,
    mark_stale,
)

T0 = datetime(2026, 1, 1)
sizes = st.integers(min_value=0, max_value=10**12)
agent_statuses = st.sampled_from([s for s in STATUSES if s != STALLED])


@st.composite
def observations(draw, job_id="j", disks=3, total=None):
    n = draw(st.integers(min_value=0, max_value=disks))
    return Observation(
        job_id=job_id,
        time=T0 + timedelta(seconds=draw(st.integers(0, 10_000))),
        status=draw(st.none() | agent_statuses),
        bytes_transferred=draw(st.none() | sizes),
        total_bytes=total if total is not None else draw(st.none() | sizes),
        progress_percent=draw(st.none() | st.floats(0, 100)),
        transfer_speed_bps=draw(st.none() | sizes),
        disks=tuple(
            DiskObservation(
                disk_index=i,
                bytes_transferred=draw(st.none() | sizes),
                size_bytes=total if total is not None else draw(st.none() | sizes),
                status=draw(st.none() | st.sampled_from(["pending", "transferring", "completed", "failed"])),
            )
            for i in range(n)
        ),
    )


def fold(obs_list, state=None):
    state = state or JobState(id="j", job_type="backup", machine="m", created_at=T0)
    history = [state]
    for o in obs_list:
        state = apply_observation(state, o)
        history.append(state)
    return history


@settings(max_examples=300, deadline=None)
@given(st.lists(observations(total=10**9), min_size=1, max_size=12))
def test_progress_never_goes_backwards_while_the_total_is_unchanged(obs_list):
    history = fold(obs_list)
    for before, after in zip(history[1:], history[2:]):
        if after.status == COMPLETED and before.status != COMPLETED:
            continue  # completion re-bases the job's bytes on its disks (checked below)
        assert after.progress_percent >= before.progress_percent
        if not (after.status == COMPLETED):
            assert after.bytes_transferred >= before.bytes_transferred
        old = {d.disk_index: d for d in before.disks}
        for d in after.disks:
            if d.disk_index in old:
                assert d.bytes_transferred >= old[d.disk_index].bytes_transferred


@settings(max_examples=300, deadline=None)
@given(st.lists(observations(), min_size=1, max_size=12))
def test_terminal_states_are_final(obs_list):
    history = fold(obs_list)
    for i, s in enumerate(history):
        if s.status in TERMINAL:
            for later in history[i:]:
                assert later.status == s.status
                assert later.completed_at == s.completed_at
                assert later.error_message == s.error_message


@settings(max_examples=300, deadline=None)
@given(st.lists(observations(), min_size=1, max_size=12))
def test_completion_total_is_the_sum_of_the_disks(obs_list):
    final = fold(obs_list)[-1]
    if final.status == COMPLETED and final.disks:
        assert final.bytes_transferred == sum(d.bytes_transferred for d in final.disks)
        assert final.completed_at is not None


@settings(max_examples=200, deadline=None)
@given(st.lists(observations(), min_size=1, max_size=8))
def test_applying_twice_is_idempotent(obs_list):
    state = fold(obs_list)[-1]
    assert apply_observation(state, obs_list[-1]) == state


@settings(max_examples=200, deadline=None)
@given(st.lists(observations(), min_size=1, max_size=8))
def test_last_telemetry_is_the_newest_point_until_the_end(obs_list):
    history = fold(obs_list)
    # The job's figures freeze at the first observation that ends it.
    ended = next((i for i, s in enumerate(history[1:]) if s.terminal), len(obs_list) - 1)
    assert history[-1].last_telemetry_at == max(o.time for o in obs_list[:ended + 1])


def test_a_pending_job_that_never_reported_is_not_stale():
    job = JobState(id="j", job_type="backup", machine="m", created_at=T0)
    decision = mark_stale(job, STALLED, T0 + timedelta(hours=1), 60)
    assert not decision.applied and decision.state.status == PENDING


def test_stalled_then_failed_message_in_the_seeds_style():
    job = JobState(id="j", job_type="backup", machine="m", status=RUNNING, last_telemetry_at=T0)
    stalled = mark_stale(job, STALLED, T0 + timedelta(seconds=65), 60)
    assert stalled.applied and stalled.state.status == STALLED
    failed = mark_stale(stalled.state, FAILED, T0 + timedelta(seconds=312), 300)
    assert failed.applied
    assert failed.state.error_message == "Job stalled - no telemetry for 5m12s"
    assert failed.state.completed_at == T0 + timedelta(seconds=312)
    # never moves a terminal job
    assert not mark_stale(failed.state, STALLED, T0 + timedelta(hours=2), 60).applied


def test_stale_refused_when_telemetry_is_recent():
    job = JobState(id="j", job_type="backup", machine="m", status=RUNNING, last_telemetry_at=T0)
    assert not mark_stale(job, STALLED, T0 + timedelta(seconds=20), 60).applied


def test_stalled_returns_to_running_only_on_newer_points():
    job = JobState(id="j", job_type="backup", machine="m", status=STALLED, last_telemetry_at=T0,
                   started_at=T0, error_message="Job stalled - no telemetry for 1m5s")
    same = apply_observation(job, Observation(job_id="j", time=T0, status=RUNNING))
    assert same.status == STALLED
    newer = apply_observation(job, Observation(job_id="j", time=T0 + timedelta(seconds=1), status=RUNNING))
    assert newer.status == RUNNING and newer.error_message is None


def test_format_silence():
    assert [format_silence(s) for s in (0, 45, 312, 3723)] == ["0s", "45s", "5m12s", "1h2m3s"]


def test_the_rest_of_the_final_export_still_counts_and_nothing_later_does():
    """InfluxDB shows one write's measurements one by one: a cycle may see a job's final status
    before its final byte count (a fast job that failed showed 0 bytes for good)."""
    job = JobState(id="j", job_type="backup", machine="m", created_at=T0)
    job = apply_observation(job, Observation(job_id="j", time=T0, status="running", bytes_transferred=0))
    end = T0 + timedelta(seconds=1)
    failed = apply_observation(job, Observation(job_id="j", time=end, status="failed", error_message="broken pipe"))
    assert failed.status == "failed" and failed.bytes_transferred == 0
    rest = apply_observation(failed, Observation(job_id="j", time=end, bytes_transferred=1048576,
                                                 disks=(DiskObservation(0, 1048576, 0),)))
    assert rest.bytes_transferred == 1048576 and rest.status == "failed" and rest.error_message == "broken pipe"
    assert [d.bytes_transferred for d in rest.disks] == [1048576]
    later = apply_observation(rest, Observation(job_id="j", time=end + timedelta(seconds=1), status="running",
                                                bytes_transferred=9_999_999))
    assert later == rest


def test_the_sender_repeating_its_end_completes_the_figures_and_is_not_late():
    """An agent exports a finished job until it shuts down: the ending's export, then the final one a
    millisecond later. A cycle that saw only the status of the first (the bytes not yet visible) must
    take the figures from the second; the job ended 1.5 MiB short for good in a CI run."""
    size = 25165829
    job = JobState(id="j", job_type="backup", machine="m", created_at=T0, sender="agent-a")
    job = apply_observation(job, Observation(job_id="j", time=T0, sender="agent-a", status="running",
                                             bytes_transferred=23658496, total_bytes=size))
    end = T0 + timedelta(seconds=2)
    seen_in_part = apply_observation(job, Observation(job_id="j", time=end, sender="agent-a", status=COMPLETED))
    assert seen_in_part.status == COMPLETED and seen_in_part.bytes_transferred == 23658496
    final = Observation(job_id="j", time=end + timedelta(milliseconds=1), sender="agent-a", status=COMPLETED,
                        bytes_transferred=size, total_bytes=size, disks=(DiskObservation(0, size, size, "completed"),))
    assert not is_late(seen_in_part, final)
    done = apply_observation(seen_in_part, final)
    assert done.bytes_transferred == size and done.progress_percent == 100.0 and done.status == COMPLETED
    assert done.completed_at == seen_in_part.completed_at and done.last_telemetry_at == end

    for other in ("forger", None):  # another process, or a sender that cannot be told from a re-used id
        again = dataclasses.replace(final, sender=other)
        assert is_late(seen_in_part, again) and apply_observation(seen_in_part, again) == seen_in_part
    rerun = dataclasses.replace(final, status="running", bytes_transferred=1)
    assert is_late(seen_in_part, rerun) and apply_observation(seen_in_part, rerun) == seen_in_part
