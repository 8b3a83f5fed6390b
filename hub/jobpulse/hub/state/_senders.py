"""One job, one sender: a job's figures come from the agent process (``service.instance.id``) that
first reported it. Points of the same job id from any other process - a second agent that shares
the id by accident, or a forger with a valid collector token - never move them: they are refused
and flag the job (``conflicting_sender`` and since-when). Pure; tested in tests/hub/test_senders.py.

A legitimately restarted agent keeps the job by sending the same ``service.instance.id``
(OTEL_RESOURCE_ATTRIBUTES), or an operator hands the job over (``take_over``: the next sender
to report becomes its owner)."""

from __future__ import annotations

import dataclasses

from ._records import JobState, Observation


def choose_sender(state: JobState, obs: Observation) -> tuple[JobState, Observation | None]:
    """The job with its sender recorded (or its conflict flagged), and the observation whose
    figures may be applied: None when only other senders reported in this window."""
    if state.terminal:
        return state, obs
    candidates = (obs,) + obs.rivals
    owner = state.sender
    if owner is None:
        owner = obs.sender  # the first reporter (parse puts the earliest first)
    taken = next((o for o in candidates if o.sender == owner), None)
    others = [o for o in candidates if o is not taken and o.sender is not None and o.sender != owner]
    if taken is None and owner is None:
        taken = obs
    new = state if state.sender == owner else dataclasses.replace(state, sender=owner)
    if others:
        rival = max(others, key=lambda o: o.time)
        if new.conflicting_sender != rival.sender or new.conflicting_sender_since is None:
            new = dataclasses.replace(new, conflicting_sender=rival.sender[:64],
                                      conflicting_sender_since=new.conflicting_sender_since or rival.time)
    if taken is not None and taken.rivals:
        taken = dataclasses.replace(taken, rivals=())
    return new, taken


def take_over(state: JobState) -> JobState:
    """An operator's explicit handover: no recorded sender, no conflict; the next reporter owns the job."""
    return dataclasses.replace(state, sender=None, conflicting_sender=None, conflicting_sender_since=None)
