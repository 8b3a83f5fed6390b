"""The job list's two caches. ``ResponseCache``, a micro-cache of whole bodies: many GUI
clients polling the same page share one database round trip per ``ttl`` seconds. Job state
itself is at most one reconcile interval old, so a sub-second cache changes little for a
reader; writes made by this process clear it at once (another replica's writes show within
``ttl``). ``VersionedCache``, each job's JSON under its row version, which every request checks
against the database: never stale, on any replica, with the micro-cache off too."""

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


class VersionedCache:
    """What was built from a row, kept under the row's version (its ``updated_at``): asked for
    a version it does not hold, it has nothing, so it never answers stale. The job list keeps
    each job's JSON here: a page of 100 jobs then reads 100 ids and versions instead of 4 000
    values, and serializes only the jobs that changed since any client last listed them.

    No lock: one dict operation per call, which the GIL makes atomic, and at ``max_entries``
    the whole dict is dropped (one rebuild of the pages in use) rather than ordered for LRU."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self._max = max_entries
        self._entries: dict[object, tuple[str, bytes]] = {}

    def get(self, key: object, version: str) -> bytes | None:
        hit = self._entries.get(key)
        return hit[1] if hit is not None and hit[0] == version else None

    def put(self, key: object, version: str, value: bytes) -> None:
        if len(self._entries) >= self._max:
            self._entries = {}
        self._entries[key] = (version, value)

    def __len__(self) -> int:
        return len(self._entries)
