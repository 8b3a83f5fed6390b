"""The live job list behind ``/api/v1/stream/jobs`` (server-sent events): one query per interval
for the rows changed since the last one serves every client, and each client has a bounded
backlog, so a client that reads too slowly is dropped instead of delaying the others or growing
the hub's memory (as the node stream does, api/node_stream.py).

Events: ``event: jobs`` with a JSON list of ``JobPublic`` (the rows changed since the previous
event, oldest change first, at most 500), a ``: keep-alive`` comment after a quiet keep-alive
interval, ``event: dropped`` before a slow client's stream ends. A page loads ``GET /api/v1/jobs``
once, then applies these; after a reconnect it loads the list again.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

from fastapi.concurrency import run_in_threadpool

from jobpulse.hub.api.backlog import Broadcaster, Subscriber

from jobpulse.hub.schemas import JobPublic
from jobpulse.hub.store import Store

BATCH = 500


class JobBroadcaster(Broadcaster):
    def __init__(self, store: Store, interval: float, max_clients: int, backlog: int) -> None:
        super().__init__(interval, max_clients, backlog, "jobpulse-job-stream")
        self._store = store
        # (updated_at, id) of the newest change already sent: rows written in one transaction
        # share their updated_at, so the id breaks the tie when a batch is cut at BATCH rows.
        self._mark: tuple[datetime, str] | None = None

    async def subscribe(self) -> Subscriber | None:
        """A new client; None when the hub has as many as it takes."""
        client = Subscriber(self._backlog)
        if not self._admit(client):
            return None
        if self._mark is None and (self._task is None or self._task.done()):
            self._mark = await run_in_threadpool(self._store.newest_change)
        self._ensure_running(self._run)
        return client

    async def _run(self) -> None:
        while self._clients:
            try:
                changed = await run_in_threadpool(self._store.changed_jobs, self._mark, BATCH)
            except Exception:  # noqa: BLE001 - a database outage pauses the stream, never ends it
                changed = []
            if changed:
                last = changed[-1]
                self._mark = (last.updated_at, last.state.id)
                message = json.dumps([JobPublic.of(j).model_dump(mode="json") for j in changed])
                for client in list(self._clients):
                    client.offer(message)
            if len(changed) < BATCH:
                await asyncio.sleep(self._interval)
        self._mark = None  # no client: the next one starts from then, not from a stale mark
