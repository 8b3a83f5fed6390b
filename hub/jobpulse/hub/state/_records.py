"""The job as the hub holds it (JobState, DiskState), and what one observation of it says
(Observation, DiskObservation). Field names are the contract's quantities
(``semconv.MetricSpec.quantity``): the same names are the job row's columns and the API's
JSON fields, so a quantity has one name from the agent to the API."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from jobpulse.semconv import TERMINAL_STATUSES, DiskStatus, Status

PENDING = Status.PENDING.label
RUNNING = Status.RUNNING.label
STALLED = Status.STALLED.label
COMPLETED = Status.COMPLETED.label
FAILED = Status.FAILED.label

STATUSES = tuple(s.label for s in Status)
TERMINAL = frozenset(s.label for s in TERMINAL_STATUSES)


@dataclass(frozen=True)
class DiskState:
    disk_index: int
    size_bytes: int = 0
    bytes_transferred: int = 0
    status: str = DiskStatus.PENDING.label
    progress_percent: float = 0.0


@dataclass(frozen=True)
class JobState:
    id: str
    job_type: str
    machine: str
    node: str | None = None  # the host.name the job's agent runs on (a node of /api/v1/nodes)
    status: str = PENDING
    current_phase: str = PENDING
    bytes_transferred: int = 0
    total_bytes: int = 0
    transfer_speed_bps: int = 0
    eta_seconds: int | None = None
    progress_percent: float = 0.0
    average_speed_bps: int | None = None
    duration_seconds: float | None = None
    error_message: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    last_telemetry_at: datetime | None = None
    last_progress_at: datetime | None = None
    # Early warning (state/_forecast.py): the end of the job's window, when it will end at its
    # smoothed speed and, pessimistically, at the slower of that and its whole-job average.
    deadline: datetime | None = None
    predicted_completion_at: datetime | None = None
    predicted_completion_latest_at: datetime | None = None
    # The median average speed of the newest completed jobs of the same machine and type.
    usual_speed_bps: int | None = None
    speed_vs_usual: float | None = None
    # Since when the pessimistic prediction is past the deadline / the speed below the slow
    # ratio of the usual: what the job_late and job_slow rules time.
    past_deadline_since: datetime | None = None
    below_usual_since: datetime | None = None
    # The rules' verdicts, recorded by the webhook (warnings: the status never changes).
    late: bool = False
    late_since: datetime | None = None
    slow: bool = False
    slow_since: datetime | None = None
    # The agent process (service.instance.id) whose points make the job's figures: the first
    # that reported it. Points of any other are refused and flag the job (state/_senders.py).
    sender: str | None = None
    conflicting_sender: str | None = None
    conflicting_sender_since: datetime | None = None
    disks: tuple[DiskState, ...] = ()

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


# The job row's own fields (its disks are rows of their own): the one list that the
# table, the writer's parameters and the API schema are pinned to (tests/hub/test_fields.py).
JOB_FIELDS = tuple(f.name for f in dataclasses.fields(JobState) if f.name != "disks")
DISK_FIELDS = tuple(f.name for f in dataclasses.fields(DiskState))


@dataclass(frozen=True)
class DiskObservation:
    disk_index: int
    bytes_transferred: int | None = None
    size_bytes: int | None = None
    status: str | None = None
    progress_percent: float | None = None


@dataclass(frozen=True)
class Observation:
    """The newest known values of one job at ``time`` (None: not reported)."""

    job_id: str
    time: datetime
    job_type: str | None = None
    machine: str | None = None
    node: str | None = None
    status: str | None = None
    current_phase: str | None = None
    bytes_transferred: int | None = None
    total_bytes: int | None = None
    transfer_speed_bps: int | None = None
    eta_seconds: int | None = None
    progress_percent: float | None = None
    average_speed_bps: int | None = None
    duration_seconds: float | None = None
    last_progress_at: datetime | None = None
    error_message: str | None = None
    deadline: datetime | None = None
    # The sending process (None: a sender without one, e.g. the legacy endpoint), and the newest
    # values other senders reported for the same job id in the same window.
    sender: str | None = None
    rivals: tuple[Observation, ...] = ()
    disks: tuple[DiskObservation, ...] = ()


@dataclass(frozen=True)
class StaleDecision:
    state: JobState
    applied: bool
    reason: str
