"""The live job list (/api/v1/stream/jobs): one query per interval serves every client, every changed
row reaches each, the number of clients is bounded, and a client that does not read is dropped."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json

import pytest
from sqlalchemy import create_engine

from jobpulse.hub.api.backlog import DROP, Subscriber
from jobpulse.hub.api.job_stream import JobBroadcaster
from jobpulse.hub.core.clock import utcnow
from jobpulse.hub.state import JobState
from jobpulse.hub.store import Store

from ._helpers import AUTH


def test_a_subscriber_that_falls_behind_is_dropped():
    s = Subscriber(backlog=2)
    s.offer("a")
    s.offer("b")
    s.offer("c")
    assert s.dropped and s.queue.qsize() == 1 and s.queue.get_nowait() is DROP
    s.offer("d")
    assert s.queue.empty(), "nothing more is queued for a dropped client"


def test_a_burst_is_not_a_slow_reader_but_a_client_still_holding_its_backlog_is():
    s = Subscriber(backlog=3)
    s.offer_round([f"n{i}" for i in range(10)])  # every node at a hub's start: more than the backlog
    assert not s.dropped and s.queue.qsize() == 10
    for _ in range(8):  # the client reads, down below its backlog
        s.queue.get_nowait()
    s.offer_round(["x", "y", "z", "w"])  # so it takes the next round whole
    assert not s.dropped and [s.queue.get_nowait() for _ in range(6)] == ["n8", "n9", "x", "y", "z", "w"]
    s.offer_round(["a", "b", "c"])
    s.offer_round(["d"])  # three still held: it did not read since
    assert s.dropped and s.queue.qsize() == 1 and s.queue.get_nowait() is DROP
    s.offer_round(["e"])
    assert s.queue.empty()


def test_every_change_reaches_every_client_once(sqlite_url):
    store = Store(create_engine(sqlite_url))

    async def scenario():
        stream = JobBroadcaster(store, interval=0.05, max_clients=2, backlog=100)
        a, b = await stream.subscribe(), await stream.subscribe()
        assert await stream.subscribe() is None, "at most max_clients"
        for i in range(3):
            store.register(JobState(id=f"live-{i}", job_type="backup", machine="vm", created_at=utcnow()))
            await asyncio.sleep(0.12)
        seen = {}
        for client in (a, b):
            ids = []
            while not client.queue.empty():
                ids += [j["id"] for j in json.loads(client.queue.get_nowait())]
            seen[id(client)] = ids
        stream.unsubscribe(a)
        stream.unsubscribe(b)
        await stream.close()
        return list(seen.values())

    # A thread of its own: the test session's thread may already run an event loop (a browser driver).
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first, second = pool.submit(asyncio.run, scenario()).result()
    assert first == second == ["live-0", "live-1", "live-2"]


def test_the_stream_is_refused_beyond_its_clients(client):
    client.app.state.job_stream._max_clients = 0  # as full as it gets
    r = client.get("/api/v1/stream/jobs", headers=AUTH)
    assert r.status_code == 503 and "JOBPULSE_JOB_STREAM_CLIENTS" in r.json()["detail"]


@pytest.mark.parametrize("headers, status", [({}, 401), (AUTH, 200)])
def test_the_stream_needs_a_read_credential_when_reads_do(client_factory, sqlite_url, headers, status):
    c = client_factory(sqlite_url, read_tokens="list-reader-token", api_token=AUTH["Authorization"].split()[1])
    with c.stream("GET", "/api/v1/stream/jobs", headers=headers) as r:
        assert r.status_code == status
        if status == 200:
            assert r.headers["content-type"].startswith("text/event-stream")
            assert next(r.iter_lines()) == "retry: 2000"
