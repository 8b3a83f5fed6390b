"""Legacy senders: the seeds' push endpoint, kept so existing clients keep working.
A post becomes one Observation and goes through the reconciler's state rules, so it ends
in the same job state as the same values arriving through InfluxDB."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from jobpulse.hub import errors
from jobpulse.hub.api.deps import LegacyAccess, SettingsDep, StoreDep
from jobpulse.hub.api.openapi import problems
from jobpulse.hub.core.clock import sender_time, to_naive_utc, utcnow
from jobpulse.hub.state import DiskObservation, Observation
from jobpulse.hub.schemas import JobIdPath, JobTypeName, LegacyTelemetry
from jobpulse.semconv import job_id_problem

router = APIRouter(prefix="/telemetry", tags=["telemetry"])


def _validation_message(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:5]:
        where = ".".join(str(x) for x in e.get("loc", ())) or "body"
        parts.append(f"{where}: {e.get('msg')}")
    return "invalid telemetry payload: " + "; ".join(parts)


def to_observation(job_id: str, body: LegacyTelemetry) -> Observation:
    t = sender_time(body.timestamp, utcnow())
    return Observation(
        job_id=job_id,
        time=t,
        job_type=body.job_type,
        status=body.status,
        current_phase=body.current_phase,
        bytes_transferred=body.bytes_transferred,
        total_bytes=body.total_bytes,
        transfer_speed_bps=body.transfer_speed_bps,
        eta_seconds=body.eta_seconds,
        progress_percent=body.progress_percent,
        error_message=body.error,
        deadline=to_naive_utc(body.deadline) if body.deadline is not None else None,
        disks=tuple(
            DiskObservation(
                disk_index=d.disk_index, bytes_transferred=d.bytes_transferred,
                size_bytes=d.total_bytes, status=d.status, progress_percent=d.progress_percent,
            )
            for d in body.disks
        ),
    )


@router.post(
    "/{job_type}/{job_id}",
    status_code=204,
    response_class=Response,
    dependencies=[LegacyAccess],
    openapi_extra={"requestBody": {"content": {"application/json": {
        "schema": LegacyTelemetry.model_json_schema()}}, "required": True}},
    responses=problems(404, 409),
)
async def legacy_telemetry(job_type: JobTypeName, job_id: JobIdPath, request: Request, store: StoreDep,
                           settings: SettingsDep):
    problem = job_id_problem(job_id)
    if problem:
        raise errors.InvalidInput(problem)
    raw = await request.body()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise errors.InvalidInput(f"body is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise errors.InvalidInput("body must be a JSON object")
    try:
        body = LegacyTelemetry.model_validate(data)
    except ValidationError as err:
        raise errors.InvalidInput(_validation_message(err)) from err
    if body.job_id is not None and body.job_id != job_id:
        raise errors.InvalidInput("job_id in the body differs from the job id in the path")
    if body.job_type is not None and body.job_type != job_type:
        raise errors.InvalidInput("job_type in the body differs from the job type in the path")
    await run_in_threadpool(lambda: store.apply_observation(
        job_type, job_id, to_observation(job_id, body), usual_jobs=settings.usual_speed_jobs,
        slow_ratio=settings.slow_ratio))
    return Response(status_code=204)
