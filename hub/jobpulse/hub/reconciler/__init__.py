"""The reconciler: InfluxDB telemetry -> job state in MySQL (see _loop for a cycle)."""

from ._influx import (
    InfluxClient,
    InfluxConnectionError,
    InfluxError,
    InfluxQueryError,
    InfluxResponseError,
)
from ._loop import CycleResult, Reconciler, make_influx
from ._state import (
    DiskObservation,
    DiskState,
    JobState,
    Observation,
    StaleDecision,
    apply_observation,
    format_silence,
    mark_stale,
)

__all__ = [
    "CycleResult",
    "DiskObservation",
    "DiskState",
    "InfluxClient",
    "InfluxConnectionError",
    "InfluxError",
    "InfluxQueryError",
    "InfluxResponseError",
    "JobState",
    "Observation",
    "Reconciler",
    "StaleDecision",
    "apply_observation",
    "format_silence",
    "make_influx",
    "mark_stale",
]
