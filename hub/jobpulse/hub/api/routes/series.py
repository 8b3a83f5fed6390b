"""Time series of one job for charts, read from InfluxDB and downsampled to a step."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter

from jobpulse.hub import errors
from jobpulse.hub.api.deps import InfluxDep, StoreDep
from jobpulse.hub.core.clock import to_naive_utc, utcnow
from jobpulse.hub.influx import InfluxError, parse_series, parse_step, series_aggregate, series_query
from jobpulse.hub.schemas import SeriesLine, SeriesPoint, SeriesPublic
from jobpulse.semconv import METRICS_BY_NAME

router = APIRouter(prefix="/jobs", tags=["series"])

MAX_POINTS = 20_000


@router.get("/{job_id}/series", response_model=SeriesPublic,
            responses={503: {"description": "InfluxDB unavailable"}})
def job_series(
    job_id: str,
    store: StoreDep,
    influx: InfluxDep,
    metric: str,
    step: str = "10s",
    start: datetime | None = None,
    end: datetime | None = None,
) -> SeriesPublic:
    spec = METRICS_BY_NAME.get(metric)
    if spec is None:
        raise errors.InvalidInput(f"unknown metric; one of: {', '.join(sorted(METRICS_BY_NAME))}")
    step_seconds = parse_step(step)
    if step_seconds is None:
        raise errors.InvalidInput("step must look like 10s, 5m or 1h")
    job = store.get_job(job_id)
    if job is None:
        raise errors.NotFound(f"no job {job_id!r}")
    end = to_naive_utc(end) if end else utcnow()
    start = to_naive_utc(start) if start else min(job.state.created_at, end - timedelta(minutes=1))
    if start >= end:
        raise errors.InvalidInput("start must be before end")
    if (end - start).total_seconds() / step_seconds > MAX_POINTS:
        raise errors.InvalidInput(f"too many points: widen step (at most {MAX_POINTS} per series)")
    try:
        payload = influx.query(series_query(spec, job_id, start, end, step_seconds), epoch="ms")
    except InfluxError as err:
        raise errors.InfluxUnavailable(str(err)[:200]) from err
    lines = [
        SeriesLine(disk_index=disk_index, points=[SeriesPoint(time=at, value=v) for at, v in points])
        for disk_index, points in parse_series(payload)
    ]
    return SeriesPublic(
        job_id=job_id, metric=spec.name, unit=spec.unit,
        aggregate=series_aggregate(spec),
        step_seconds=step_seconds, start=start, end=end, series=lines,
    )
