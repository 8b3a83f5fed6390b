"""Time series of one job for charts, read from InfluxDB and downsampled to a step."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter

from jobpulse.agent.semconv import ATTR_DISK_INDEX, METRICS_BY_NAME
from jobpulse.hub import crud, errors
from jobpulse.hub.api.deps import InfluxDep, SessionDep
from jobpulse.hub.reconciler import InfluxError
from jobpulse.hub.reconciler._query import _MEAN_METRICS, parse_step, series_query
from jobpulse.hub.reconciler._state import to_naive_utc, utcnow
from jobpulse.hub.schemas import SeriesLine, SeriesPoint, SeriesPublic

router = APIRouter(prefix="/jobs", tags=["series"])

MAX_POINTS = 20_000


@router.get("/{job_id}/series", response_model=SeriesPublic,
            responses={503: {"description": "InfluxDB unavailable"}})
def job_series(
    job_id: str,
    session: SessionDep,
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
    job = crud.get_job(session.connection(), job_id)
    if job is None:
        raise errors.NotFound(f"no job {job_id!r}")
    end = to_naive_utc(end) if end else utcnow()
    start = to_naive_utc(start) if start else min(job["created_at"], end - timedelta(minutes=1))
    if start >= end:
        raise errors.InvalidInput("start must be before end")
    if (end - start).total_seconds() / step_seconds > MAX_POINTS:
        raise errors.InvalidInput(f"too many points: widen step (at most {MAX_POINTS} per series)")
    try:
        payload = influx.query(series_query(spec, job_id, start, end, step_seconds), epoch="ms")
    except InfluxError as err:
        raise errors.InfluxUnavailable(str(err)[:200]) from err
    lines = []
    for result in payload.get("results") or ():
        for s in result.get("series") or ():
            tag = (s.get("tags") or {}).get(ATTR_DISK_INDEX)
            try:
                disk_index = int(tag) if tag not in (None, "") else None
            except ValueError:
                continue
            points = [
                SeriesPoint(time=datetime(1970, 1, 1) + timedelta(milliseconds=t), value=v)
                for t, v in (s.get("values") or ())
                if t is not None and v is not None
            ]
            lines.append(SeriesLine(disk_index=disk_index, points=points))
    lines.sort(key=lambda line: -1 if line.disk_index is None else line.disk_index)
    return SeriesPublic(
        job_id=job_id, metric=spec.name, unit=spec.unit,
        aggregate="mean" if spec.name in _MEAN_METRICS else "last",
        step_seconds=step_seconds, start=start, end=end, series=lines,
    )
