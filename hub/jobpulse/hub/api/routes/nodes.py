"""Nodes: the hosts that run jobs, with their newest host-metrics snapshot."""

from __future__ import annotations

import asyncio

from typing import Annotated

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from jobpulse.hub import errors
from jobpulse.hub.api.access import Scope, check_websocket, websocket_scope
from jobpulse.hub.api.deps import InfluxDep, ReadAccess, StoreDep
from jobpulse.hub.api.openapi import problems
from jobpulse.hub.api.backlog import DROP
from jobpulse.hub.api.node_stream import HEARTBEAT
from jobpulse.hub.api.chart_window import chart_query, chart_window, last_hour, step_seconds
from jobpulse.hub.core.clock import utcnow
from jobpulse.hub.influx import node_series_query, parse_series
from jobpulse.hub.schemas import (
    NodeIdPath,
    STEP_PATTERN,
    DateTimeIn,
    NodeMetricName,
    NodePublic,
    NodeSeriesPublic,
    NodesPublic,
    SeriesPoint,
)

router = APIRouter(prefix="/nodes", tags=["nodes"])


@router.get("", response_model=NodesPublic, dependencies=[ReadAccess])
def list_nodes(store: StoreDep) -> NodesPublic:
    now = utcnow()
    nodes = [NodePublic.of(n, now) for n in store.list_nodes()]
    return NodesPublic(data=nodes, count=len(nodes))


@router.websocket("/stream")
@websocket_scope(Scope.READ)
async def node_stream(websocket: WebSocket, node: str | None = None) -> None:
    """Every node's snapshot as it changes (``?node=`` for one node); see api/node_stream.py.
    Authenticated like every read, before the handshake is accepted."""
    if not await check_websocket(websocket):
        return
    await websocket.accept()
    broadcaster = websocket.app.state.node_stream
    client = await broadcaster.subscribe(node)
    if client is None:
        await websocket.close(code=1013, reason="too many stream clients; try again later")
        return
    keepalive = websocket.app.state.settings.sse_keepalive
    try:
        for message in client.initial:
            await websocket.send_text(message)
        while True:
            try:
                message = await asyncio.wait_for(client.queue.get(), keepalive)
            except TimeoutError:
                message = HEARTBEAT
            if message is DROP:
                await websocket.close(code=1008, reason="too slow: updates were not read in time")
                return
            await websocket.send_text(message)
    except WebSocketDisconnect:
        pass
    finally:
        broadcaster.unsubscribe(client)


@router.get("/{node_id}", response_model=NodePublic, dependencies=[ReadAccess], responses=problems(404))
def get_node(node_id: NodeIdPath, store: StoreDep) -> NodePublic:
    node = store.get_node(node_id)
    if node is None:
        raise errors.NotFound(f"no node {node_id!r}")
    return NodePublic.of(node, utcnow())


@router.get("/{node_id}/series", response_model=NodeSeriesPublic, dependencies=[ReadAccess],
            responses=problems(400, 404))
def node_series(
    node_id: NodeIdPath,
    store: StoreDep,
    influx: InfluxDep,
    metric: NodeMetricName,
    step: Annotated[str, Query(pattern=STEP_PATTERN)] = "10s",
    start: DateTimeIn | None = None,
    end: DateTimeIn | None = None,
) -> NodeSeriesPublic:
    """One snapshot quantity of a node over time, from its host metrics in InfluxDB (default: the
    last hour)."""
    step = step_seconds(step)
    if store.get_node(node_id) is None:
        raise errors.NotFound(f"no node {node_id!r}")
    window = chart_window(step, start, end, last_hour)
    query, unit = node_series_query(metric, node_id, window.start, window.end, step)
    payload = chart_query(influx, query)
    points = [SeriesPoint(time=at, value=v) for _, line in parse_series(payload) for at, v in line]
    return NodeSeriesPublic(node_id=node_id, metric=metric, unit=unit, step_seconds=step, start=window.start,
                            end=window.end, points=sorted(points, key=lambda p: p.time))
