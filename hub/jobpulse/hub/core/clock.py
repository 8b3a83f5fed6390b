"""Time as the hub stores it: naive UTC, the form every DATETIME(6) column holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def to_naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def sender_time(value: datetime | None, now: datetime) -> datetime:
    """The time a legacy sender stamped, inside [1970, now]: a clock running ahead would freeze
    stale detection, one far behind cannot be stored as an InfluxDB timestamp."""
    if value is None:
        return now
    return max(EPOCH, min(to_naive_utc(value), now))


def from_epoch(*, microseconds: float = 0, milliseconds: float = 0, seconds: float = 0) -> datetime:
    return EPOCH + timedelta(microseconds=microseconds, milliseconds=milliseconds, seconds=seconds)
