"""Early warning, as pure rules: when a running job will end, how its speed compares with
the usual speed of its machine and job type, and the late/slow verdicts the alert rules
hand back through the webhook. No I/O here; property-tested (tests/hub/test_forecast.py).

- The prediction is a band: ``predicted_completion_at`` at the smoothed speed, and
  ``predicted_completion_latest_at`` at the slower of the smoothed and the whole-job average
  speed, so a momentary burst cannot hide a late job.
- Only phases that move bytes (transferring, scanning) move the prediction; in the others it
  holds its last value, as the agent's ETA does. A speed of 0 is no estimate (a job that stops
  moving is the job_stuck rule's); while neither speed is known the prediction holds.
- ``past_deadline_since`` and ``below_usual_since`` say since when (the point's time) the
  condition of job_late / job_slow holds, so the SQL rules can time it against the hub's
  settings; both are cleared the moment the condition ends, and once the job ends.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterable
from datetime import datetime, timedelta

from jobpulse.semconv import Phase

from ._records import COMPLETED, RUNNING, JobState, StaleDecision

# Completed jobs of a (machine, job type) needed before their median is the "usual" speed.
USUAL_MIN_JOBS = 3
# Predictions farther out are clamped: 1 B/s over a TiB would overflow any date type.
HORIZON = timedelta(days=3650)
_MOVING = frozenset(p.label for p in Phase if p.moves_bytes)

LATE = "late"
SLOW = "slow"


def usual_speed(average_speeds: Iterable[int | None]) -> int | None:
    """The median of completed jobs' whole-job average speeds; None below USUAL_MIN_JOBS."""
    known = [s for s in average_speeds if s is not None and s > 0]
    return int(statistics.median(known)) if len(known) >= USUAL_MIN_JOBS else None


def seconds_to_completion(remaining: int, speed: int | None, average: int | None) -> tuple[float | None, float | None]:
    """(at the smoothed speed, at the slower of it and the average): None where no positive
    speed gives an estimate. The second is never below the first."""
    known = [v for v in (speed, average) if v is not None and v > 0]
    if not known:
        return None, None
    horizon = HORIZON.total_seconds()
    left = max(0, remaining)
    optimistic = min(horizon, left / speed) if speed is not None and speed > 0 else None
    return optimistic, min(horizon, left / min(known))


def forecast(state: JobState, usual_bps: int | None, slow_ratio: float) -> JobState:
    """``state`` (just merged with an observation) with its prediction, its speed against the
    usual and the conditions' since-times brought up to date. Idempotent."""
    if state.terminal:
        predicted, latest = state.predicted_completion_at, state.predicted_completion_latest_at
        if state.status == COMPLETED and state.completed_at is not None:
            predicted = latest = state.completed_at
        return dataclasses.replace(state, predicted_completion_at=predicted, predicted_completion_latest_at=latest,
                                   past_deadline_since=None, below_usual_since=None)
    at = state.last_telemetry_at
    if at is None:
        return state
    moving = state.status == RUNNING and state.current_phase in _MOVING
    predicted, latest = state.predicted_completion_at, state.predicted_completion_latest_at
    ratio = state.speed_vs_usual
    if moving:
        if state.total_bytes > 0:
            optimistic, pessimistic = seconds_to_completion(
                state.total_bytes - state.bytes_transferred, state.transfer_speed_bps, state.average_speed_bps)
            if optimistic is not None:
                predicted = at + timedelta(seconds=optimistic)
            if pessimistic is not None:
                latest = at + timedelta(seconds=pessimistic)
        ratio = round(state.transfer_speed_bps / usual_bps, 4) if usual_bps else None
    elif usual_bps is None:
        ratio = None
    if predicted is not None and latest is not None and latest < predicted:
        latest = predicted  # the band's ends came from different points (one speed unknown since)
    deadline = state.deadline
    past = deadline is not None and (at > deadline or (latest is not None and latest > deadline))
    below = moving and ratio is not None and ratio < slow_ratio
    return dataclasses.replace(
        state,
        predicted_completion_at=predicted,
        predicted_completion_latest_at=latest,
        usual_speed_bps=usual_bps,
        speed_vs_usual=ratio,
        past_deadline_since=(state.past_deadline_since or at) if past else None,
        below_usual_since=(state.below_usual_since or at) if below else None,
    )


def mark_warning(state: JobState, kind: str, firing: bool, since: datetime) -> StaleDecision:
    """A job_late (``kind`` LATE) or job_slow (SLOW) alert's effect: a flag and since-when,
    never a status. Refused for finished jobs, whose figures are frozen."""
    flag, when = (("late", "late_since") if kind == LATE else ("slow", "slow_since"))
    if state.terminal:
        return StaleDecision(state, False, f"job is {state.status}: its warnings are frozen")
    if firing:
        if getattr(state, flag):
            return StaleDecision(state, False, f"job already marked {kind}")
        return StaleDecision(dataclasses.replace(state, **{flag: True, when: since}), True, f"marked {kind}")
    if not getattr(state, flag):
        return StaleDecision(state, False, f"job was not marked {kind}")
    return StaleDecision(dataclasses.replace(state, **{flag: False, when: None}), True, f"{kind} mark cleared")
