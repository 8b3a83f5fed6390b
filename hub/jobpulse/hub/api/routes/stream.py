"""The live job list: every job's changes as server-sent events (api/job_stream.py), so a page
follows all jobs with one connection instead of polling each."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from jobpulse.hub import errors
from jobpulse.hub.api.deps import ReadAccess, SettingsDep
from jobpulse.hub.api.backlog import DROP
from jobpulse.hub.api.job_stream import JobBroadcaster
from jobpulse.hub.api.openapi import problems

router = APIRouter(prefix="/stream", tags=["jobs"], dependencies=[ReadAccess])


@router.get(
    "/jobs",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                     "description": "`event: jobs` with the JobPublic of every job row that changed, as it "
                                    "changes; `: keep-alive` comments when quiet"},
               **problems(503)},
)
async def job_list_stream(request: Request, settings: SettingsDep):
    broadcaster: JobBroadcaster = request.app.state.job_stream
    client = await broadcaster.subscribe()
    if client is None:
        raise errors.Unavailable(f"the live job list has its {settings.job_stream_clients} clients already: "
                                 "try again later (JOBPULSE_JOB_STREAM_CLIENTS)")

    async def events():
        try:
            # A reconnecting EventSource waits this long; the page reloads the list when it is back.
            yield "retry: 2000\n: connected\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(client.queue.get(), settings.sse_keepalive)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": keep-alive\n\n"
                    continue
                if message is DROP:
                    yield "event: dropped\ndata: {\"detail\": \"too slow: changes were not read in time\"}\n\n"
                    return
                yield f"event: jobs\ndata: {message}\n\n"
        finally:
            broadcaster.unsubscribe(client)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
