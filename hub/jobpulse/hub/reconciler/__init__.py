"""The reconciler: the loop that turns InfluxDB telemetry into job state in MySQL, and
the leader lock that lets exactly one replica write (see _loop for a cycle)."""

from ._loop import CycleResult, Reconciler

__all__ = ["CycleResult", "Reconciler"]
