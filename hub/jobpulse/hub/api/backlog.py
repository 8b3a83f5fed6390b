"""A live stream's client: a bounded backlog of messages, so one client that reads too slowly is
dropped instead of delaying the others or growing the hub's memory (node WebSocket, job list SSE)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

DROP = object()  # put in place of a slow client's backlog: its sender ends the stream


@dataclass(eq=False)
class Subscriber:
    backlog: int
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    dropped: bool = False

    def offer(self, message: str) -> None:
        if self.dropped:
            return
        if self.queue.qsize() >= self.backlog:
            self.dropped = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(DROP)
            return
        self.queue.put_nowait(message)
