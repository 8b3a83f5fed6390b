"""A node (a host that runs jobs) as the hub holds it: the newest snapshot under the seed node
daemon's field names, from the node collector's host metrics or a legacy snapshot POST."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

MIB = 2**20
@dataclass(frozen=True)
class NodeSnapshot:
    """The seed's snapshot fields; None: not reported (yet)."""

    cpu_percent: float | None = None
    memory_percent: float | None = None
    memory_used_mb: float | None = None
    memory_total_mb: float | None = None
    disk_percent: float | None = None
    disk_used_gb: float | None = None
    disk_total_gb: float | None = None
    network_rx_bytes: int | None = None
    network_tx_bytes: int | None = None
    network_rx_rate_mbps: float | None = None
    network_tx_rate_mbps: float | None = None
    uptime_seconds: int | None = None
    process_count: int | None = None
    active_connections: int | None = None
    load_avg_1m: float | None = None
    load_avg_5m: float | None = None
    load_avg_15m: float | None = None


SNAPSHOT_FIELDS = tuple(f.name for f in dataclasses.fields(NodeSnapshot))


@dataclass(frozen=True)
class NodeObservation:
    node_id: str
    time: datetime
    snapshot: NodeSnapshot


@dataclass(frozen=True)
class NodeState:
    node_id: str
    last_seen_at: datetime
    snapshot: NodeSnapshot = NodeSnapshot()


NODE_FIELDS = ("node_id",) + SNAPSHOT_FIELDS + ("last_seen_at",)


def _rate(before: int | None, after: int | None, seconds: float) -> float | None:
    """MiB per second between two counter readings; None across a counter reset."""
    if before is None or after is None or seconds <= 0 or after < before:
        return None
    return round((after - before) / seconds / MIB, 4)


def apply_node_observation(state: NodeState | None, obs: NodeObservation) -> NodeState:
    """The node after ``obs``: a newer snapshot replaces the reported fields (others keep their
    last value); an older one changes nothing. Receive/transmit rates come from the counters when
    the sender gave none."""
    if state is None:
        return NodeState(obs.node_id, obs.time, obs.snapshot)
    if obs.time < state.last_seen_at:
        return state
    seen = {k: v for k, v in dataclasses.asdict(obs.snapshot).items() if v is not None}
    if obs.time > state.last_seen_at:
        dt = (obs.time - state.last_seen_at).total_seconds()
        old = state.snapshot
        for name, before, after in (("network_rx_rate_mbps", old.network_rx_bytes, obs.snapshot.network_rx_bytes),
                                    ("network_tx_rate_mbps", old.network_tx_bytes, obs.snapshot.network_tx_bytes)):
            if name not in seen and (rate := _rate(before, after, dt)) is not None:
                seen[name] = rate
    return NodeState(state.node_id, obs.time, dataclasses.replace(state.snapshot, **seen))
