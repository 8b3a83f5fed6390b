"""Time series of one job for charts, read from InfluxDB and downsampled to a step."""

from __future__ import annotations

from datetime import timedelta

from typing import Annotated

from fastapi import APIRouter, Query

from jobpulse.hub import errors
from jobpulse.hub.api.deps import InfluxDep, ReadAccess, StoreDep
from jobpulse.hub.api.openapi import problems
from jobpulse.hub.api.chart_window import chart_query, chart_window, step_seconds
from jobpulse.hub.influx import parse_series, series_aggregate, series_query
from jobpulse.hub.schemas import STEP_PATTERN, DateTimeIn, JobIdPath, MetricName, SeriesLine, SeriesPoint, SeriesPublic
from jobpulse.semconv import METRICS_BY_NAME

router = APIRouter(prefix="/jobs", tags=["series"], dependencies=[ReadAccess])


@router.get("/{job_id}/series", response_model=SeriesPublic,
            responses=problems(400, 404))
def job_series(
    job_id: JobIdPath,
    store: StoreDep,
    influx: InfluxDep,
    metric: MetricName,
    step: Annotated[str, Query(pattern=STEP_PATTERN)] = "10s",
    start: DateTimeIn | None = None,
    end: DateTimeIn | None = None,
) -> SeriesPublic:
    spec = METRICS_BY_NAME[metric]
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
