"""Jobs: registration, list, one job, and a live stream of a job's row (SSE)."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from jobpulse.hub import errors
from jobpulse.hub.api.deps import SettingsDep, StoreDep, TokenAuth
from jobpulse.hub.api.openapi import problems
from jobpulse.hub.core.clock import to_naive_utc, utcnow
from jobpulse.hub.core.db import DB_ERRORS
from jobpulse.hub.schemas import DateTimeIn, JobCreate, JobIdPath, JobPublic, JobsPublic, JobTypeName, StatusName
from jobpulse.hub.store import JobFilter

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.post("", response_model=JobPublic, status_code=201, dependencies=[TokenAuth], responses=problems(409))
def register_job(body: JobCreate, store: StoreDep) -> Response:
    job = store.register(body.to_state(utcnow()))
    return Response(JobPublic.of(job).model_dump_json(), status_code=201, media_type="application/json")


@router.get("", response_model=JobsPublic)
def list_jobs(
    request: Request,
    store: StoreDep,
    status: StatusName | None = None,
    job_type: JobTypeName | None = None,
    machine: Annotated[str | None, Query(max_length=255)] = None,
    created_after: DateTimeIn | None = None,
    created_before: DateTimeIn | None = None,
    skip: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    include_disks: bool = False,
) -> Response:
    cache = store.list_cache
    key = str(request.url.query)
    cached = cache.get(key)
    if cached is not None:
        return Response(cached, media_type="application/json")
    generation = cache.generation()
    f = JobFilter(
        status=status,
        job_type=job_type,
        machine=machine,
        created_after=to_naive_utc(created_after) if created_after else None,
        created_before=to_naive_utc(created_before) if created_before else None,
    )
    jobs, count = store.list_jobs(f, skip, limit, include_disks)
    body = JobsPublic.model_construct(data=[JobPublic.trusted(j) for j in jobs], count=count).model_dump_json().encode()
    cache.put(key, body, generation)
    return Response(body, media_type="application/json")


@router.get("/{job_id}", response_model=JobPublic, responses=problems(404))
def get_job(job_id: JobIdPath, store: StoreDep) -> JobPublic:
    job = store.get_job(job_id)
    if job is None:
        raise errors.NotFound(f"no job {job_id!r}")
    return JobPublic.of(job)


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                     "description": "`event: job` with a JobPublic on every change; ends when terminal"},
               **problems(404)},
)
async def job_events(job_id: JobIdPath, request: Request, store: StoreDep, settings: SettingsDep):
    version, job = await run_in_threadpool(store.job_if_changed, job_id, None)
    if job is None:
        raise errors.NotFound(f"no job {job_id!r}")

    async def stream():
        nonlocal version, job
        seq = 0
        last_sent = time.monotonic()
        while True:
            if job is not None:
                seq += 1
                data = JobPublic.of(job).model_dump_json()
                yield f"id: {seq}\nevent: job\ndata: {data}\n\n"
                last_sent = time.monotonic()
                if job.state.terminal:
                    yield "event: end\ndata: {}\n\n"
                    return
            if await request.is_disconnected():
                return
            await asyncio.sleep(settings.sse_poll_interval)
            try:
                new_version, job = await run_in_threadpool(store.job_if_changed, job_id, version)
            except DB_ERRORS:
                job = None
                yield ": database unavailable, retrying\n\n"
                continue
            if new_version is None:
                yield "event: gone\ndata: {}\n\n"
                return
            version = new_version
            if job is None and time.monotonic() - last_sent > settings.sse_keepalive:
                last_sent = time.monotonic()
                yield ": keep-alive\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
