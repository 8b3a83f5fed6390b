"""The time window of a chart request (``step``, ``start``, ``end``), checked once for every
series endpoint, and the InfluxDB query behind it with InfluxDB's errors mapped to the API's."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jobpulse.hub import errors
from jobpulse.hub.core.clock import EPOCH, to_naive_utc, utcnow
from jobpulse.hub.influx import InfluxClient, InfluxError, parse_step

MAX_POINTS = 20_000
LATEST = datetime(2262, 1, 1)


@dataclass(frozen=True)
class ChartWindow:
    start: datetime
    end: datetime
    step_seconds: int


def step_seconds(step: str) -> int:
    seconds = parse_step(step)
    if seconds is None:
        raise errors.InvalidInput("step must look like 10s, 5m or 1h")
    return seconds


def chart_window(step: int, start: datetime | None, end: datetime | None,
                 default_start: Callable[[datetime], datetime]) -> ChartWindow:
    """``default_start(end)`` gives the start when the request names none."""
    # No point of ours is older than 1970; InfluxDB's time literals end in 2262.
    end = min(to_naive_utc(end), LATEST) if end else utcnow()
    start = max(to_naive_utc(start) if start else default_start(end), EPOCH)
    if start >= end:
        raise errors.InvalidInput("start must be before end")
    if (end - start).total_seconds() / step > MAX_POINTS:
        raise errors.InvalidInput(f"too many points: widen step (at most {MAX_POINTS} per series)")
    return ChartWindow(start, end, step)


def last_hour(end: datetime) -> datetime:
    return end - timedelta(hours=1)


def chart_query(influx: InfluxClient, query: str) -> Mapping[str, Any]:
    try:
        return influx.query(query, epoch="ms")
    except InfluxError as err:
        raise errors.InfluxUnavailable(str(err)[:200]) from err
