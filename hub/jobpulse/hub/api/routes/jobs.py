"""Jobs: registration, list, one job, and a live stream of a job's row (SSE)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic_core import to_json

from jobpulse.hub import errors
from jobpulse.hub.api.deps import ReadAccess, SettingsDep, StoreDep, WriteAccess
from jobpulse.hub.api.openapi import problems
from jobpulse.hub.core.clock import to_naive_utc, utcnow
from jobpulse.hub.core.db import DB_ERRORS
from jobpulse.hub.schemas import (
    DiskPublic,
    JobCreate,
    JobIdPath,
    JobPublic,
    JobsPublic,
    JobsQuery,
)
from jobpulse.hub.state import DISK_FIELDS, JOB_FIELDS
from jobpulse.hub.store import JobFilter

router = APIRouter(prefix="/jobs", tags=["jobs"])

# The job list is what every GUI polls: each job's JSON is built from its row as plain values
# and serialized by pydantic-core (model_dump_json's own serializer, so numbers and strings come
# out byte for byte the same), without a JobState, StoredJob or model per row, and kept under
# the row's version (store.job_json): a page reads every job's version and only the rows that
# changed since. tests/hub/test_list_fast_path.py holds it equal to JobsPublic's validated output.
_JOB_KEYS = JOB_FIELDS + ("updated_at",)
assert tuple(JobPublic.model_fields) == _JOB_KEYS + ("node_url", "disks")
assert tuple(DiskPublic.model_fields) == DISK_FIELDS
_NODE = _JOB_KEYS.index("node")
_VERSION = _JOB_KEYS.index("updated_at")


# A few lists at a time build their page: the work is the GIL's, so more threads at once only
# take turns on it, each switch dearer than the last (50 polling clients cost every page a
# third more CPU than 4 at a time did; bench/bench_hub.py), and a few overlap the database waits.
_LIST_AT_ONCE = threading.BoundedSemaphore(4)


def _wire_time(stored: str) -> str:
    # UTCDateTime's format, datetime.isoformat() of naive UTC and a Z, from the row's text.
    text = stored.replace(" ", "T", 1)
    return (text[:-7] if text.endswith(".000000") else text) + "Z"


def _job_json(row, times: list[int], disks) -> bytes:
    values = list(row[:len(_JOB_KEYS)])
    for i in times:
        if values[i] is not None:
            values[i] = _wire_time(values[i])
    job = dict(zip(_JOB_KEYS, values))
    node = values[_NODE]
    job["node_url"] = f"/api/v1/nodes/{quote(node, safe='')}" if node else None
    job["disks"] = [dict(zip(DISK_FIELDS, d)) for d in disks]
    return to_json(job, inf_nan_mode="null")


def _list_json(store, f: JobFilter, skip: int, limit: int, include_disks: bool) -> bytes:
    cache = store.job_json
    held: dict[str, bytes] = {}

    def have(job_id: str, version: str) -> bool:
        body = cache.get((job_id, include_disks), version)
        if body is not None:
            held[job_id] = body
        return body is not None

    page = store.list_jobs(f, skip, limit, include_disks, have)
    times = [i for i, k in enumerate(_JOB_KEYS) if k in page.times]
    for row in page.rows:
        body = _job_json(row, times, page.disks.get(row[0], ()))
        cache.put((row[0], include_disks), row[_VERSION], body)
        held[row[0]] = body
    # JobsPublic's JSON, as pydantic-core writes it: no spaces, the fields in this order. The
    # versions and the changed rows are two reads (the reader's, then one transaction): a job
    # deleted in between is left out, one written in between is shown at its newer version.
    jobs = b",".join(held[job_id] for job_id, _ in page.order if job_id in held)
    return b'{"data":[' + jobs + b'],"count":' + str(page.count).encode() + b"}"


@router.post("", response_model=JobPublic, status_code=201, dependencies=[WriteAccess], responses=problems(409))
def register_job(body: JobCreate, store: StoreDep) -> Response:
    job = store.register(body.to_state(utcnow()))
    return Response(JobPublic.of(job).model_dump_json(), status_code=201, media_type="application/json")


@router.get("", response_model=JobsPublic, dependencies=[ReadAccess])
def list_jobs(
    request: Request,
    store: StoreDep,
    q: Annotated[JobsQuery, Query()],
) -> Response:
    cache = store.list_cache
    key = request.scope["query_string"].decode("latin-1")  # as sent: request.url would parse the whole URL
    cached = cache.get(key)
    if cached is not None:
        return Response(cached, media_type="application/json")
    generation = cache.generation()
    f = JobFilter(
        status=q.status,
        job_type=q.job_type,
        machine=q.machine,
        created_after=to_naive_utc(q.created_after) if q.created_after else None,
        created_before=to_naive_utc(q.created_before) if q.created_before else None,
    )
    with _LIST_AT_ONCE:
        body = _list_json(store, f, q.skip, q.limit, q.include_disks)
    cache.put(key, body, generation)
    return Response(body, media_type="application/json")


@router.post("/{job_id}/takeover", response_model=JobPublic, dependencies=[WriteAccess], responses=problems(404))
def take_over_job(job_id: JobIdPath, store: StoreDep) -> JobPublic:
    """Hand the job to the next agent process that reports it (a restarted agent with a new
    service.instance.id): its recorded sender and any conflict are cleared."""
    job = store.take_over(job_id)
    if job is None:
        raise errors.NotFound(f"no job {job_id!r}")
    return JobPublic.of(job)


@router.get("/{job_id}", response_model=JobPublic, dependencies=[ReadAccess], responses=problems(404))
def get_job(job_id: JobIdPath, store: StoreDep) -> JobPublic:
    job = store.get_job(job_id)
    if job is None:
        raise errors.NotFound(f"no job {job_id!r}")
    return JobPublic.of(job)


@router.get(
    "/{job_id}/events",
    dependencies=[ReadAccess],
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
