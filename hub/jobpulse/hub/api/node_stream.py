"""The live node stream behind ``/api/v1/nodes/stream``: one poll of the nodes table per interval
serves every client, and each client has a bounded backlog, so a client that reads too slowly
is dropped instead of delaying the others or growing the hub's memory.

Messages (JSON text frames): ``{"type": "node", "data": <NodePublic>}`` for each node whose row
changed (every matching node once on connect), ``{"type": "heartbeat"}`` after a quiet keep-alive
interval. Close codes: 1013 too many clients, 1008 the client fell behind.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime

from fastapi.concurrency import run_in_threadpool

from jobpulse.hub.api.backlog import Broadcaster, Subscriber

from jobpulse.hub.core.clock import utcnow
from jobpulse.hub.schemas import NodePublic
from jobpulse.hub.store import Store, StoredNode

HEARTBEAT = json.dumps({"type": "heartbeat"})


@dataclass(eq=False)
class Client(Subscriber):
    node: str | None = None
    # The rows as they were on connect, sent before the backlog: a hub with more nodes than the
    # backlog holds must still admit a client that reads (the backlog bounds what it falls behind).
    initial: tuple[str, ...] = ()


def _message(node: StoredNode, now: datetime) -> str:
    return json.dumps({"type": "node", "data": NodePublic.of(node, now).model_dump(mode="json")})


class NodeBroadcaster(Broadcaster):
    def __init__(self, store: Store, interval: float, max_clients: int, backlog: int) -> None:
        super().__init__(interval, max_clients, backlog, "jobpulse-node-stream")
        self._store = store
        self._seen: dict[str, datetime] = {}

    async def subscribe(self, node: str | None) -> Client | None:
        """A new client primed with the current rows; None when the hub has as many as it takes."""
        client = Client(backlog=self._backlog, node=node)
        if not self._admit(client):
            return None
        rows = await run_in_threadpool(self._store.list_nodes)
        now = utcnow()
        # The rows just read are what every client is now sent (the others their changes, this one
        # all of them), so the poll does not send them all again: on its first round it would
        # fill every backlog at once and drop every client of a hub with more nodes than that.
        self._offer_changes(rows, now, skip=client)
        client.initial = tuple(_message(row, now) for row in rows if node in (None, row.state.node_id))
        self._ensure_running(self._run)
        return client

    async def _run(self) -> None:
        while self._clients:
            try:
                rows = await run_in_threadpool(self._store.list_nodes)
            except Exception:  # noqa: BLE001 - a database outage pauses the stream, never ends it
                rows = []
            self._offer_changes(rows, utcnow())
            await asyncio.sleep(self._interval)

    def _offer_changes(self, rows, now: datetime, skip: Client | None = None) -> None:
        changed = []
        for row in rows:
            node_id = row.state.node_id
            if self._seen.get(node_id) != row.updated_at:
                self._seen[node_id] = row.updated_at
                changed.append((node_id, _message(row, now)))
        if not changed:
            return
        for client in list(self._clients):
            if client is not skip:
                client.offer_round([m for node_id, m in changed if client.node in (None, node_id)])
