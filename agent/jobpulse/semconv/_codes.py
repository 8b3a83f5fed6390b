"""The codes carried as metric values: phase, status and disk status never become tags,
because a tag that changes value starts a new InfluxDB series."""

from __future__ import annotations

import enum


class JobType(str, enum.Enum):
    BACKUP = "backup"
    REPLICATION = "replication"
    RESTORE = "restore"


class _Labelled(enum.IntEnum):
    @property
    def label(self) -> str:
        """The code's name as the hub's API and the seeds' payloads spell it."""
        return self.name.lower()


class Status(_Labelled):
    """Job status, emitted as the value of ``jobpulse.job.status``.

    STALLED is never emitted by an agent: only the hub sets it, from silence.
    """

    PENDING = 0
    RUNNING = 1
    STALLED = 2
    COMPLETED = 3
    FAILED = 4
    CANCELLED = 5

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})


class Phase(_Labelled):
    """Job phase, emitted as the value of ``jobpulse.job.phase``."""

    PENDING = 0
    PREPARING = 1
    SNAPSHOT = 2
    TRANSFERRING = 3
    FINALIZING = 4
    VERIFYING = 5
    DONE = 6
    # A wrapped tool still walking its source (restic's total still grows while it copies).
    SCANNING = 7
    # A wrapped tool whose progress is unknown (not one the wrapper can read): no byte is
    # expected to be counted, so this phase is never "stuck".
    RUNNING = 8

    @property
    def moves_bytes(self) -> bool:
        return self in (Phase.TRANSFERRING, Phase.SCANNING)


class DiskStatus(_Labelled):
    """Per-disk state, emitted as the value of ``jobpulse.disk.status``."""

    PENDING = 0
    TRANSFERRING = 1
    COMPLETED = 2
    FAILED = 3
    CANCELLED = 4

    @property
    def terminal(self) -> bool:
        return self in (DiskStatus.COMPLETED, DiskStatus.FAILED, DiskStatus.CANCELLED)
