"""The hub's domain: a job's state, what an observation of it says, and the pure rules
that merge the two (no I/O; property-tested in tests/hub/test_state_rules.py)."""

from ._records import (
    COMPLETED,
    DISK_FIELDS,
    FAILED,
    JOB_FIELDS,
    PENDING,
    RUNNING,
    STALLED,
    STATUSES,
    TERMINAL,
    DiskObservation,
    DiskState,
    JobState,
    Observation,
    StaleDecision,
)
from ._nodes import (
    NODE_FIELDS,
    SNAPSHOT_FIELDS,
    NodeObservation,
    NodeSnapshot,
    NodeState,
    apply_node_observation,
)
from ._rules import STALE_MESSAGE, apply_observation, format_silence, is_late, mark_stale, new_job, pct

__all__ = [
    "COMPLETED",
    "DISK_FIELDS",
    "FAILED",
    "JOB_FIELDS",
    "NODE_FIELDS",
    "PENDING",
    "RUNNING",
    "SNAPSHOT_FIELDS",
    "STALE_MESSAGE",
    "STALLED",
    "STATUSES",
    "TERMINAL",
    "DiskObservation",
    "DiskState",
    "JobState",
    "NodeObservation",
    "NodeSnapshot",
    "NodeState",
    "Observation",
    "StaleDecision",
    "apply_node_observation",
    "apply_observation",
    "format_silence",
    "is_late",
    "mark_stale",
    "new_job",
    "pct",
]
