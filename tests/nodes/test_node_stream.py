"""The node stream (WebSocket /api/v1/nodes/stream) on a real hub process: updates pushed on
change, one node's stream filtered, a slow client dropped without delaying another."""

from __future__ import annotations

import contextlib
import json
import socket
import time
import uuid
from urllib.parse import urlparse

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.hub import hub_process

from .conftest import TOKEN

pytestmark = pytest.mark.e2e
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def hub(tmp_path, mysql_url, influxdb):
    with hub_process(tmp_path / "hub", mysql_url, influxdb, TOKEN, sse_poll_interval="0.2", sse_keepalive="1",
                     node_stream_backlog="8", node_stream_clients="3") as h:
        yield h


def post(client: httpx.Client, node: str, cpu: float) -> None:
    r = client.post("/api/telemetry/snapshot", json={"node_id": node, "cpu_percent": cpu, "memory_percent": 50.0,
                                                       "process_count": 7}, headers=AUTH)
    assert r.status_code == 204, r.text


def stream_url(hub, query: str = "") -> str:
    return hub.url.replace("http://", "ws://") + "/api/v1/nodes/stream" + query


def receive_until(ws, predicate, timeout: float):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        message = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        seen.append(message)
        if predicate(message):
            return message, seen
    raise AssertionError(f"not received in {timeout}s; got {seen[-3:]}")


def test_updates_are_pushed_on_change_and_filtered_by_node(hub):
    node, other = f"n-{uuid.uuid4().hex[:6]}", f"o-{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=hub.url, timeout=5) as api, connect(stream_url(hub, f"?node={node}")) as ws:
        post(api, other, 10.0)
        sent = time.monotonic()
        post(api, node, 33.5)
        message, seen = receive_until(ws, lambda m: m["type"] == "node" and m["data"]["cpu_percent"] == 33.5, 3)
        assert time.monotonic() - sent < 2
        assert set(message) == {"type", "data"} and message["data"]["node_id"] == node
        assert {"memory_percent", "last_seen_at", "last_seen_age_seconds"} <= set(message["data"])
        assert all(m["type"] == "heartbeat" or m["data"]["node_id"] == node for m in seen)
        message, _ = receive_until(ws, lambda m: m["type"] == "heartbeat", 3)  # quiet: keep-alive


def test_a_client_is_sent_every_node_even_when_there_are_more_than_its_backlog(hub):
    marker = uuid.uuid4().hex[:6]
    nodes = {f"many-{marker}-{i:02d}" for i in range(20)}  # the backlog is 8
    with httpx.Client(base_url=hub.url, timeout=5) as api:
        for node in sorted(nodes):
            post(api, node, 5.0)
    with connect(stream_url(hub)) as ws:
        seen = set()
        receive_until(ws, lambda m: m["type"] == "node" and (seen.add(m["data"]["node_id"]) or nodes <= seen), 5)


def test_a_slow_client_does_not_delay_another(hub):
    """A client that does not read holds at most its backlog and one round in the hub (the rule:
    tests/hub/test_job_stream.py); what the socket buffers between take is the kernel's. Here they
    may take everything (loopback autotunes them to megabytes, and the stream is compressed), so
    the slow client is either dropped or, reading at last, sent every node's newest state."""
    url = urlparse(hub.url)
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)  # a reader that cannot keep up
    raw.connect((url.hostname, url.port))
    marker = f"m-{uuid.uuid4().hex[:6]}"
    with connect(stream_url(hub), sock=raw) as slow, httpx.Client(base_url=hub.url, timeout=5) as api, \
            connect(stream_url(hub, f"?node={marker}")) as fast:
        for round_ in range(3):
            for i in range(300):
                post(api, f"bulk-{i:03d}-{uuid.uuid4().hex[:4]}" if round_ == 0 else f"bulk-{i:03d}", float(round_))
        sent = time.monotonic()
        post(api, marker, 42.0)
        receive_until(fast, lambda m: m["type"] == "node" and m["data"]["cpu_percent"] == 42.0, 3)
        assert time.monotonic() - sent < 2, "the slow client delayed the fast one"
        newest: dict[str, float] = {}
        try:
            while True:
                message = json.loads(slow.recv(timeout=10))
                if message["type"] == "heartbeat":  # what it was sent is read: nothing was left out
                    break
                newest[message["data"]["node_id"]] = message["data"]["cpu_percent"]
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1008, closed
        else:
            assert newest[marker] == 42.0
            assert all(v == 2.0 for k, v in newest.items() if k.startswith("bulk-") and len(k) == 8)


def test_clients_are_bounded(hub):
    with contextlib.ExitStack() as stack:
        for _ in range(3):
            stack.enter_context(connect(stream_url(hub)))
        with connect(stream_url(hub)) as extra, pytest.raises(ConnectionClosed) as closed:
            extra.recv(timeout=5)
        assert closed.value.rcvd.code == 1013
