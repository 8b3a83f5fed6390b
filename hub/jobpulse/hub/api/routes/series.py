"""Time series of one job for charts, read from InfluxDB and downsampled to a step."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter

from jobpulse.hub import errors
from jobpulse.hub.api.deps import InfluxDep, StoreDep
from jobpulse.hub.api.chart_window import chart_query, chart_window, step_seconds
from jobpulse.hub.influx import parse_series, series_aggregate, series_query
from jobpulse.hub.schemas import SeriesLine, SeriesPoint, SeriesPublic
from jobpulse.semconv import METRICS_BY_NAME

router = APIRouter(prefix="/jobs", tags=["series"])


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
    step = step_seconds(step)
    job = store.get_job(job_id)
    if job is None:
        raise errors.NotFound(f"no job {job_id!r}")
    window = chart_window(step, start, end, lambda end: min(job.state.created_at, end - timedelta(minutes=1)))
    payload = chart_query(influx, series_query(spec, job_id, window.start, window.end, step))
    lines = [
        SeriesLine(disk_index=disk_index, points=[SeriesPoint(time=at, value=v) for at, v in points])
        for disk_index, points in parse_series(payload)
    ]
    return SeriesPublic(
        job_id=job_id, metric=spec.name, unit=spec.unit,
        aggregate=series_aggregate(spec),
        step_seconds=step, start=window.start, end=window.end, series=lines,
    )
