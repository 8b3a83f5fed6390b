"""Pure state rules: how one observation of a job (from InfluxDB or a legacy sender)
and how a stale alert change the job's row. No I/O here; property-tested.

Rules:
- progress never goes backwards: bytes and percent only grow, unless the total changed;
- terminal states (completed, failed, cancelled) are frozen: no later point changes any
  figure (a failed job shown at 100 % would be a lie); ``is_late`` tells a point that came
  after the end from a replay of the overlapping reconcile windows; only the rest of the final
  export itself (same time, seen in two parts), or the sender repeating the same end, may still
  raise the counters;
- on completion the job's bytes are the sum of its disks' bytes (the seeds' bug);
- ``last_telemetry_at`` is the newest point's own time;
- stalled returns to running only on a point newer than the stall's last point;
- a job that never reported (``last_telemetry_at`` is None) is pending, never stalled.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from jobpulse.semconv import DiskStatus, Phase

from ._records import (
    COMPLETED,
    FAILED,
    PENDING,
    RUNNING,
    STALLED,
    TERMINAL,
    DiskObservation,
    DiskState,
    JobState,
    Observation,
    StaleDecision,
)

_DISK_RANK = {
    DiskStatus.PENDING.label: 0,
    DiskStatus.TRANSFERRING.label: 1,
    DiskStatus.COMPLETED.label: 2,
    DiskStatus.FAILED.label: 2,
    DiskStatus.CANCELLED.label: 2,
}
_DISK_TERMINAL = frozenset(s.label for s in DiskStatus if s.terminal)

STALE_MESSAGE = "Job stalled - no telemetry for {}"


def pct(value: float) -> float:
    """Clamp to the DECIMAL(5,2) column: 0..100, two decimals."""
    if value != value:  # NaN
        return 0.0
    return round(min(100.0, max(0.0, float(value))), 2)


def _ratio(done: int, total: int) -> float:
    return pct(done * 100.0 / total) if total > 0 else 0.0


def _grow(old, new, reset: bool):
    """Monotonic merge: the new value wins when larger, or when the total changed."""
    if new is None:
        return old
    return new if reset or new >= old else old


def new_job(obs: Observation, *, created_at: datetime | None = None) -> JobState:
    """The row auto-registered for telemetry of a job the hub did not know."""
    return JobState(
        id=obs.job_id,
        job_type=(obs.job_type or "unknown")[:32],
        machine=(obs.machine or "unknown")[:255],
        created_at=created_at or obs.time,
    )


def _merge_disks(disks: tuple[DiskState, ...], seen: tuple[DiskObservation, ...]) -> tuple[DiskState, ...]:
    by_index = {d.disk_index: d for d in disks}
    for o in seen:
        d = by_index.get(o.disk_index, DiskState(disk_index=o.disk_index))
        size = d.size_bytes
        resized = o.size_bytes is not None and o.size_bytes >= 0 and o.size_bytes != size
        if resized:
            size = o.size_bytes
        done = _grow(d.bytes_transferred, o.bytes_transferred, resized)
        status = d.status
        if o.status in _DISK_RANK:
            if d.status not in _DISK_TERMINAL and _DISK_RANK[o.status] >= _DISK_RANK.get(d.status, 0):
                status = o.status
        if status == DiskStatus.COMPLETED.label:
            percent = 100.0
        elif o.progress_percent is not None:
            percent = pct(o.progress_percent)
            if not resized:
                percent = max(percent, d.progress_percent)
        elif size > 0:
            percent = max(_ratio(done, size), 0.0 if resized else d.progress_percent)
        else:
            percent = d.progress_percent
        by_index[o.disk_index] = DiskState(o.disk_index, size, done, status, percent)
    return tuple(by_index[i] for i in sorted(by_index))


def _rest_of_the_final_export(state: JobState, obs: Observation) -> JobState:
    """A terminal job seen again at the time of its last point: the same export, of which an
    earlier cycle saw only part (InfluxDB makes one write's measurements visible one by one, so a
    cycle can see the final status before the final byte count). Its counters may still grow to
    the export's figures; nothing else changes."""
    disks = _merge_disks(state.disks, tuple(
        dataclasses.replace(d, status=None) for d in obs.disks))
    total = state.total_bytes or (obs.total_bytes or 0)
    done = _grow(state.bytes_transferred, obs.bytes_transferred, False)
    if state.status == COMPLETED and disks:
        done = sum(d.bytes_transferred for d in disks)
    percent = (pct(done * 100.0 / total) if total > 0 else 100.0) if state.status == COMPLETED else (
        _grow(state.progress_percent, pct(obs.progress_percent), False) if obs.progress_percent is not None
        else max(state.progress_percent, _ratio(done, total)))
    return dataclasses.replace(state, bytes_transferred=done, total_bytes=total, progress_percent=percent,
                               disks=disks)


def _repeats_the_end(state: JobState, obs: Observation) -> bool:
    """``obs`` is the ended job's own sender still reporting the same end: an agent exports a
    finished job until it shuts down (the ending's export, then the final one a moment later),
    and a cycle may have seen only part of the first (see ``_rest_of_the_final_export``). A sender
    without an identity (a legacy post) cannot be told from a run re-using the id, so it never is."""
    return obs.sender is not None and obs.sender == state.sender and obs.status == state.status


def is_late(state: JobState, obs: Observation) -> bool:
    """``obs`` came after the job ended (a late sender, or a run re-using the id): newer than
    the job's last telemetry and not its sender repeating the end. Older or equal points are
    replays of the window's overlap."""
    return state.terminal and (state.last_telemetry_at is None or obs.time > state.last_telemetry_at) \
        and not _repeats_the_end(state, obs)


def apply_observation(state: JobState, obs: Observation) -> JobState:
    """The job after ``obs``. Pure, idempotent: applying the same observation twice
    yields the same state (reconcile windows overlap). A terminal job is returned as it is."""
    if state.terminal:
        if obs.time != state.last_telemetry_at and not _repeats_the_end(state, obs):
            return state
        return _rest_of_the_final_export(state, obs)
    newer = state.last_telemetry_at is None or obs.time >= state.last_telemetry_at
    strictly_newer = state.last_telemetry_at is None or obs.time > state.last_telemetry_at

    disks = _merge_disks(state.disks, obs.disks)
    # A reported total of 0 means "not known yet"; the disks' sizes stand in until then.
    reported = obs.total_bytes if obs.total_bytes else None
    if reported is None and state.total_bytes == 0 and disks:
        reported = sum(d.size_bytes for d in disks) or None
    total_changed = reported is not None and reported != state.total_bytes
    total = reported if total_changed else state.total_bytes
    done = _grow(state.bytes_transferred, obs.bytes_transferred, total_changed)
    percent = state.progress_percent
    if obs.progress_percent is not None:
        percent = _grow(percent, pct(obs.progress_percent), total_changed)
    elif total > 0:
        percent = _grow(percent, _ratio(done, total), total_changed)

    last_telemetry = obs.time if newer else state.last_telemetry_at
    last_progress = state.last_progress_at
    if obs.last_progress_at is not None and (last_progress is None or obs.last_progress_at > last_progress):
        last_progress = obs.last_progress_at

    status = state.status
    phase = state.current_phase
    error = state.error_message
    started = state.started_at
    completed = state.completed_at
    speed, eta = state.transfer_speed_bps, state.eta_seconds
    avg, duration = state.average_speed_bps, state.duration_seconds
    deadline = obs.deadline if obs.deadline is not None and newer else state.deadline

    if obs.status in TERMINAL:
        status = obs.status
    elif obs.status in (PENDING, RUNNING) and state.status != STALLED:
        if newer and not (state.status == RUNNING and obs.status == PENDING):
            status = obs.status
    elif state.status == STALLED and strictly_newer:
        status = RUNNING  # telemetry resumed after the stall
    if state.status == STALLED and status == RUNNING:
        error = None
    if newer:
        if obs.current_phase is not None:
            phase = obs.current_phase
        if obs.transfer_speed_bps is not None:
            speed = max(0, obs.transfer_speed_bps)
        if obs.eta_seconds is not None:
            eta = max(0, obs.eta_seconds)
        if obs.average_speed_bps is not None:
            avg = max(0, obs.average_speed_bps)
        if obs.duration_seconds is not None:
            duration = max(0.0, obs.duration_seconds)
    if status != PENDING and started is None:
        started = obs.time
        if obs.duration_seconds is not None and obs.duration_seconds >= 0:
            started = obs.time - timedelta(seconds=obs.duration_seconds)
    if status in TERMINAL:
        completed = completed or obs.time
        eta = 0 if status == COMPLETED else None
        if status == COMPLETED:
            phase = Phase.DONE.label if obs.current_phase is None else phase
        if status == FAILED:
            error = obs.error_message or error or "job failed"
        if obs.duration_seconds is not None:
            duration = max(0.0, obs.duration_seconds)
        if obs.average_speed_bps is not None:
            avg = max(0, obs.average_speed_bps)

    if status == COMPLETED:
        if disks:
            done = sum(d.bytes_transferred for d in disks)
        percent = pct(done * 100.0 / total) if total > 0 else 100.0

    return dataclasses.replace(
        state,
        node=(obs.node[:191] if obs.node and newer else state.node),
        status=status,
        current_phase=phase[:32],
        bytes_transferred=done,
        total_bytes=total,
        transfer_speed_bps=speed,
        eta_seconds=eta,
        progress_percent=percent,
        average_speed_bps=avg,
        duration_seconds=duration,
        error_message=error,
        started_at=started,
        completed_at=completed,
        last_telemetry_at=last_telemetry,
        last_progress_at=last_progress,
        deadline=deadline,
        disks=disks,
    )


def format_silence(seconds: float) -> str:
    """Go-style duration as the seeds wrote it: 45s, 5m12s, 1h2m3s."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def mark_stale(state: JobState, target: str, now: datetime, threshold: float) -> StaleDecision:
    """A stale alert's effect: ``target`` is STALLED or FAILED. Refused for terminal jobs,
    jobs that never reported, and jobs whose telemetry is in fact recent."""
    if state.terminal:
        return StaleDecision(state, False, f"job is {state.status}")
    if state.last_telemetry_at is None:
        return StaleDecision(state, False, "job never reported telemetry: pending, not stale")
    silence = (now - state.last_telemetry_at).total_seconds()
    if silence < threshold:
        return StaleDecision(state, False, f"telemetry is recent ({format_silence(silence)} ago)")
    if state.status == target:
        return StaleDecision(state, False, f"job already {target}")
    message = STALE_MESSAGE.format(format_silence(silence))
    if target == STALLED:
        return StaleDecision(
            dataclasses.replace(state, status=STALLED, error_message=message), True, message
        )
    return StaleDecision(
        dataclasses.replace(
            state, status=FAILED, error_message=message, completed_at=now, eta_seconds=None
        ),
        True,
        message,
    )
