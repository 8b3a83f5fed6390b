"""Jobs: registration, list, one job, and a live stream of a job's row (SSE)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from jobpulse.hub import crud, errors
from jobpulse.hub.api.deps import EngineDep, SessionDep, SettingsDep, TokenAuth
from jobpulse.hub.core.db import DB_ERRORS
from jobpulse.hub.reconciler._state import TERMINAL, to_naive_utc
from jobpulse.hub.schemas import JobCreate, JobPublic, JobsPublic, JobTypeName, StatusName

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.post("", response_model=JobPublic, status_code=201, dependencies=[TokenAuth])
def register_job(body: JobCreate, engine: EngineDep, request: Request) -> Response:
    job = crud.register_job(engine, body)
    request.app.state.list_cache.clear()
    return Response(JobPublic.model_validate(job).model_dump_json(), status_code=201,
                    media_type="application/json")


@router.get("", response_model=JobsPublic)
def list_jobs(
    request: Request,
    session: SessionDep,
    status: StatusName | None = None,
    job_type: JobTypeName | None = None,
    machine: Annotated[str | None, Query(max_length=255)] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    skip: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    include_disks: bool = False,
) -> Response:
    cache = request.app.state.list_cache
    key = str(request.url.query)
    cached = cache.get(key)
    if cached is not None:
        return Response(cached, media_type="application/json")
    generation = cache.generation()
    f = crud.JobFilter(
        status=status,
        job_type=job_type,
        machine=machine,
        created_after=to_naive_utc(created_after) if created_after else None,
        created_before=to_naive_utc(created_before) if created_before else None,
    )
    rows, count = crud.list_jobs(session, f, skip, limit, include_disks)
    # Rows are already the public shape; serialize once instead of validating twice.
    body = JobsPublic.model_construct(
        data=[JobPublic.model_construct(**r) for r in rows], count=count
    ).model_dump_json(warnings=False).encode()
    cache.put(key, body, generation)
    return Response(body, media_type="application/json")


@router.get("/{job_id}", response_model=JobPublic)
def get_job(job_id: str, session: SessionDep) -> JobPublic:
    job = crud.get_job(session.connection(), job_id)
    if job is None:
        raise errors.NotFound(f"no job {job_id!r}")
    return JobPublic.model_validate(job)


def _load(engine, job_id: str, since_version):
    """(version, job or None): the full row only when its version moved."""
    with engine.connect() as conn:
        version = crud.job_version(conn, job_id)
        if version is None or version == since_version:
            return version, None
        return version, crud.get_job(conn, job_id)


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "`event: job` with a JobPublic on every change; ends when terminal"}},
)
async def job_events(job_id: str, request: Request, engine: EngineDep, settings: SettingsDep):
    version, job = await run_in_threadpool(_load, engine, job_id, None)
    if job is None:
        raise errors.NotFound(f"no job {job_id!r}")

    async def stream():
        nonlocal version, job
        seq = 0
        last_sent = time.monotonic()
        while True:
            if job is not None:
                seq += 1
                data = JobPublic.model_validate(job).model_dump_json()
                yield f"id: {seq}\nevent: job\ndata: {data}\n\n"
                last_sent = time.monotonic()
                if job["status"] in TERMINAL:
                    yield "event: end\ndata: {}\n\n"
                    return
            if await request.is_disconnected():
                return
            await asyncio.sleep(settings.sse_poll_interval)
            try:
                new_version, job = await run_in_threadpool(_load, engine, job_id, version)
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
