"""A live stream's clients and the one polling task that feeds them all (node WebSocket, job list
SSE): each client has a bounded backlog of messages, so one that reads too slowly is dropped
instead of delaying the others or growing the hub's memory; the task runs while clients are there."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

DROP = object()  # put in place of a slow client's backlog: its sender ends the stream


@dataclass(eq=False)
class Subscriber:
    backlog: int
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    dropped: bool = False

    def offer(self, message: str) -> None:
        self.offer_round((message,))

    def offer_round(self, messages) -> None:
        """One poll's messages, taken whole unless the client still holds ``backlog`` messages of
        earlier rounds: a burst (every node at a hub's start, a catch-up after an outage) is not
        a slow reader, and what it holds stays bounded by one round beyond the backlog."""
        if self.dropped or not messages:
            return
        if self.queue.qsize() >= self.backlog:
            self.dropped = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(DROP)
            return
        for message in messages:
            self.queue.put_nowait(message)


class Broadcaster:
    """The clients of one stream, at most ``max_clients``, and the task ``poll`` runs for them."""

    def __init__(self, interval: float, max_clients: int, backlog: int, name: str) -> None:
        self._interval = interval
        self._max_clients = max_clients
        self._backlog = backlog
        self._name = name
        self._clients: set[Subscriber] = set()
        self._task: asyncio.Task | None = None

    def _admit(self, client: Subscriber) -> bool:
        if len(self._clients) >= self._max_clients:
            return False
        self._clients.add(client)
        return True

    def _ensure_running(self, poll: Callable[[], Awaitable[None]]) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(poll(), name=self._name)

    def unsubscribe(self, client: Subscriber) -> None:
        self._clients.discard(client)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
