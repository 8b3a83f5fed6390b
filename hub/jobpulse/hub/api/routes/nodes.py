"""Nodes: the hosts that run jobs, with their newest host-metrics snapshot."""

from __future__ import annotations

from fastapi import APIRouter

from jobpulse.hub import errors
from jobpulse.hub.api.deps import StoreDep
from jobpulse.hub.core.clock import utcnow
from jobpulse.hub.schemas import NodePublic, NodesPublic

router = APIRouter(prefix="/nodes", tags=["nodes"])


@router.get("", response_model=NodesPublic)
def list_nodes(store: StoreDep) -> NodesPublic:
    now = utcnow()
    nodes = [NodePublic.of(n, now) for n in store.list_nodes()]
    return NodesPublic(data=nodes, count=len(nodes))


@router.get("/{node_id}", response_model=NodePublic, responses={404: {"description": "unknown node"}})
def get_node(node_id: str, store: StoreDep) -> NodePublic:
    node = store.get_node(node_id)
    if node is None:
        raise errors.NotFound(f"no node {node_id!r}")
    return NodePublic.of(node, utcnow())
