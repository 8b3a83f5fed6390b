"""A micro-cache for the job list: many GUI clients polling the same page share one
database round trip per ``ttl`` seconds. Job state itself is at most one reconcile
interval old, so a sub-second cache changes little for a reader; writes made by this
process clear it at once (another replica's writes show within ``ttl``)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class ResponseCache:
    def __init__(self, ttl: float, max_entries: int = 256) -> None:
        self.ttl = ttl
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[float, int, bytes]] = OrderedDict()
        self._generation = 0
        # Guards _entries/_generation: routes run on the threadpool, the reconciler on its thread.
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        if self.ttl <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or hit[0] < now or hit[1] != self._generation:
                return None
            return hit[2]

    def generation(self) -> int:
        with self._lock:
            return self._generation

    def put(self, key: str, body: bytes, generation: int) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if generation != self._generation:
                return  # a write happened while this body was built: do not keep it
            self._entries[key] = (time.monotonic() + self.ttl, generation, body)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
