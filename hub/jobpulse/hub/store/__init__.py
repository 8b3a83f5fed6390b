"""Job state in MySQL/SQLite: ``Store`` is the one handle every route and the reconciler use."""

from ._store import Change, CycleCommit, JobFilter, PipelineStatus, StoredJob, StoredNode, Store, Thresholds

__all__ = ["Change", "CycleCommit", "JobFilter", "PipelineStatus", "Store", "StoredJob", "StoredNode", "Thresholds"]
