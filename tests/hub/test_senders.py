"""One job, one sender (state/_senders.py): the first process to report a job owns its figures; any
other is refused and flags the job; a takeover hands it to the next reporter."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest

from jobpulse.hub.state import COMPLETED, JobState, Observation, apply_observation, choose_sender, take_over

pytestmark = pytest.mark.security

T0 = datetime(2026, 12, 3, 10, 0)


def obs(sender, seconds=0, done=10, **kw):
    return Observation(job_id="victim", time=T0 + timedelta(seconds=seconds), sender=sender, status="running",
                       bytes_transferred=done, total_bytes=100, **kw)


def merge(state, o):
    state, taken = choose_sender(state, o)
    return state if taken is None else apply_observation(state, taken)


def test_the_first_reporter_owns_the_job_and_a_second_cannot_move_it():
    job = merge(JobState(id="victim", job_type="backup", machine="vm"), obs("agent-a", 0, 10))
    assert job.sender == "agent-a" and job.bytes_transferred == 10 and job.conflicting_sender is None
    forged = merge(job, dataclasses.replace(obs("forger", 5, 100), status=COMPLETED))
    assert forged.status == "running" and forged.bytes_transferred == 10, "the forger's figures are refused"
    assert forged.conflicting_sender == "forger" and forged.conflicting_sender_since == T0 + timedelta(seconds=5)
    real = merge(forged, obs("agent-a", 10, 20))
    assert real.bytes_transferred == 20 and real.conflicting_sender == "forger", "the flag stays"


def test_in_one_window_the_owner_is_taken_among_rivals():
    job = merge(JobState(id="victim", job_type="backup", machine="vm"), obs("agent-a", 0, 10))
    both = dataclasses.replace(obs("forger", 6, 100), rivals=(obs("agent-a", 5, 15),))
    after = merge(job, both)
    assert after.bytes_transferred == 15 and after.conflicting_sender == "forger"


def test_a_new_job_seen_from_two_senders_goes_to_the_first_listed():
    first = dataclasses.replace(obs("agent-a", 0, 10), rivals=(obs("agent-b", 1, 90),))
    job = merge(JobState(id="victim", job_type="backup", machine="vm"), first)
    assert job.sender == "agent-a" and job.bytes_transferred == 10 and job.conflicting_sender == "agent-b"


def test_senders_without_an_identity_are_not_checked():
    job = merge(JobState(id="victim", job_type="backup", machine="vm"), obs(None, 0, 10))
    assert job.sender is None and merge(job, obs(None, 5, 20)).bytes_transferred == 20


def test_takeover_hands_the_job_to_the_next_reporter():
    job = merge(merge(JobState(id="victim", job_type="backup", machine="vm"), obs("agent-a", 0, 10)),
                obs("agent-b", 5, 30))
    assert job.bytes_transferred == 10
    handed = take_over(job)
    assert handed.sender is None and handed.conflicting_sender is None
    resumed = merge(handed, obs("agent-b", 10, 40))
    assert resumed.sender == "agent-b" and resumed.bytes_transferred == 40
