"""A seed daemon's snapshot as the node collector's host metrics (the inverse of _nodes.py), so a
node reporting the old way shows in InfluxDB, and in every chart, like a node collector's node."""

from __future__ import annotations

from datetime import datetime, timedelta

from jobpulse.hub.core.clock import EPOCH, to_naive_utc
from jobpulse.hub.state import NodeSnapshot
from jobpulse.semconv import (
    ATTR_DEVICE,
    ATTR_DIRECTION,
    ATTR_HOST_NAME,
    ATTR_MOUNTPOINT,
    ATTR_STATE,
    FIELD_COUNTER,
    FIELD_GAUGE,
    NODE_CONNECTIONS,
    NODE_CPU,
    NODE_FILESYSTEM,
    NODE_LOAD_1M,
    NODE_LOAD_5M,
    NODE_LOAD_15M,
    NODE_MEMORY_LIMIT,
    NODE_MEMORY_USAGE,
    NODE_NETWORK_IO,
    NODE_PROCESSES,
    NODE_UPTIME,
    MetricSpec,
)

MIB, GIB = 2**20, 2**30
# The device a snapshot's summed network counters are written under.
SNAPSHOT_DEVICE = "snapshot"


def _escape(text: str, specials: str) -> str:
    out = text.replace("\\", "\\\\")
    for ch in specials:
        out = out.replace(ch, "\\" + ch)
    return out.replace("\n", "\\n")


def _line(spec: MetricSpec, node_id: str, tags: dict, value: float, ns: int) -> str:
    tag_part = ",".join(f"{_escape(k, ',= ')}={_escape(str(v), ',= ')}"
                        for k, v in sorted({ATTR_HOST_NAME: node_id, **tags}.items()))
    field = FIELD_COUNTER if spec.field == FIELD_COUNTER else FIELD_GAUGE
    number = f"{int(value)}i" if isinstance(value, int) else repr(float(value))
    return f"{_escape(spec.name, ', ')},{tag_part} {field}={number} {ns}"


def snapshot_lines(node_id: str, at: datetime, s: NodeSnapshot) -> list[str]:
    ns = (to_naive_utc(at) - EPOCH) // timedelta(microseconds=1) * 1000
    out: list[tuple[MetricSpec, dict, float]] = []
    if s.cpu_percent is not None:
        out.append((NODE_CPU, {ATTR_STATE: "idle"}, 1.0 - s.cpu_percent / 100.0))
    if s.memory_used_mb is not None:
        out.append((NODE_MEMORY_USAGE, {ATTR_STATE: "used"}, int(s.memory_used_mb * MIB)))
    if s.memory_total_mb is not None:
        out.append((NODE_MEMORY_LIMIT, {}, int(s.memory_total_mb * MIB)))
    if s.disk_used_gb is not None:
        used = s.disk_used_gb * GIB
        total = s.disk_total_gb * GIB if s.disk_total_gb is not None else None
        if s.disk_percent:
            free = used * (100.0 / s.disk_percent - 1.0)
        else:
            free = max(0.0, (total or used) - used)
        free = min(free, float(2**62))  # a disk_percent near 0 would make it overflow a field
        reserved = max(0.0, total - used - free) if total is not None else 0.0
        for state, value in (("used", used), ("free", free), ("reserved", reserved)):
            out.append((NODE_FILESYSTEM, {ATTR_MOUNTPOINT: "/", ATTR_STATE: state, ATTR_DEVICE: SNAPSHOT_DEVICE},
                        int(value)))
    for direction, value in (("receive", s.network_rx_bytes), ("transmit", s.network_tx_bytes)):
        if value is not None:
            out.append((NODE_NETWORK_IO, {ATTR_DEVICE: SNAPSHOT_DEVICE, ATTR_DIRECTION: direction}, int(value)))
    if s.active_connections is not None:
        out.append((NODE_CONNECTIONS, {"protocol": "tcp", ATTR_STATE: "ESTABLISHED"}, int(s.active_connections)))
    if s.process_count is not None:
        out.append((NODE_PROCESSES, {}, int(s.process_count)))
    # The field types must be the collector's (InfluxDB refuses a second type for a field): these are floats.
    for spec, value in ((NODE_UPTIME, s.uptime_seconds), (NODE_LOAD_1M, s.load_avg_1m), (NODE_LOAD_5M, s.load_avg_5m),
                        (NODE_LOAD_15M, s.load_avg_15m)):
        if value is not None:
            out.append((spec, {}, float(value)))
    return [_line(spec, node_id, tags, value, ns) for spec, tags, value in out]
