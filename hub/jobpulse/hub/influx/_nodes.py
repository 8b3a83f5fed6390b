"""/query results -> one NodeObservation per node: the seed's snapshot derived from the newest
point of each host-metrics series (collector-config/otelcol-node.yaml)."""

from __future__ import annotations

from collections.abc import Mapping

from jobpulse.hub.core.clock import from_epoch
from jobpulse.hub.state import NodeObservation, NodeSnapshot
from jobpulse.semconv import (
    ATTR_DEVICE,
    ATTR_DIRECTION,
    ATTR_HOST_NAME,
    ATTR_MOUNTPOINT,
    ATTR_STATE,
    NODE_CONNECTIONS,
    NODE_CPU,
    NODE_FILESYSTEM,
    NODE_LOAD_1M,
    NODE_LOAD_5M,
    NODE_LOAD_15M,
    NODE_MEMORY_LIMIT,
    NODE_MEMORY_USAGE,
    NODE_METRICS_BY_NAME,
    NODE_NETWORK_IO,
    NODE_PROCESSES,
    NODE_UPTIME,
)

from ._influxql import NODE_TAGS
from ._parse import finite

MIB, GIB = 2**20, 2**30
# psutil's cpu_percent counts iowait as idle time; so does the seed's snapshot.
_IDLE_STATES = ("idle", "wait")
ROOT = "/"




class _Node:
    __slots__ = ("time", "points")

    def __init__(self) -> None:
        self.time = -1
        # (metric name, state, device, direction, mountpoint) -> (time, value)
        self.points: dict[tuple, tuple[int, float]] = {}

    def get(self, metric, state=None, device=None, direction=None, mountpoint=None) -> float | None:
        hit = self.points.get((metric.name, state, device, direction, mountpoint))
        return hit[1] if hit else None

    def by(self, metric, key: int) -> dict:
        """metric's newest values keyed by one attribute (1 state, 2 device, 3 direction, 4 mountpoint)."""
        return {k[key]: v for k, (_, v) in self.points.items() if k[0] == metric.name}

    def snapshot(self) -> NodeSnapshot:
        cpu = None
        idle = [self.get(NODE_CPU, state=s) for s in _IDLE_STATES]
        if idle[0] is not None:
            cpu = round(max(0.0, min(100.0, 100.0 * (1.0 - sum(v or 0.0 for v in idle)))), 2)
        total = self.get(NODE_MEMORY_LIMIT)
        used = self.get(NODE_MEMORY_USAGE, state="used")
        disk = self._root_filesystem()
        rx = tx = None
        for (name, _s, _dev, direction, _m), (_, value) in self.points.items():
            if name == NODE_NETWORK_IO.name:
                if direction == "receive":
                    rx = (rx or 0) + int(value)
                elif direction == "transmit":
                    tx = (tx or 0) + int(value)
        established = self.get(NODE_CONNECTIONS, state="ESTABLISHED")
        processes, uptime = self.get(NODE_PROCESSES), self.get(NODE_UPTIME)
        return NodeSnapshot(
            cpu_percent=cpu,
            memory_percent=round(100.0 * used / total, 2) if used is not None and total else None,
            memory_used_mb=used / MIB if used is not None else None,
            memory_total_mb=total / MIB if total is not None else None,
            disk_percent=disk[0], disk_used_gb=disk[1], disk_total_gb=disk[2],
            network_rx_bytes=rx, network_tx_bytes=tx,
            uptime_seconds=int(uptime) if uptime is not None else None,
            process_count=int(processes) if processes is not None else None,
            active_connections=int(established) if established is not None else None,
            load_avg_1m=self.get(NODE_LOAD_1M), load_avg_5m=self.get(NODE_LOAD_5M),
            load_avg_15m=self.get(NODE_LOAD_15M),
        )

    def _root_filesystem(self) -> tuple[float | None, float | None, float | None]:
        """(percent, used GiB, total GiB) of "/", else of the largest filesystem; percent as df
        and psutil give it: used / (used + free), the reserved blocks left out."""
        sizes: dict[str, dict[str, float]] = {}
        for (name, state, _d, _dir, mount), (_, value) in self.points.items():
            if name == NODE_FILESYSTEM.name and mount is not None:
                sizes.setdefault(mount, {})[state] = value
        if not sizes:
            return None, None, None
        mount = ROOT if ROOT in sizes else max(sizes, key=lambda m: sum(sizes[m].values()))
        parts = sizes[mount]
        used, free = parts.get("used", 0.0), parts.get("free", 0.0)
        total = used + free + parts.get("reserved", 0.0)
        percent = round(100.0 * used / (used + free), 2) if used + free else None
        return percent, round(used / GIB, 3), round(total / GIB, 3)


def parse_node_result(payload: Mapping) -> dict[str, NodeObservation]:
    """/query JSON (epoch=u) of the node statements of ``cycle_query`` -> one observation per node."""
    nodes: dict[str, _Node] = {}
    for result in payload.get("results") or ():
        for series in result.get("series") or ():
            if series.get("name") not in NODE_METRICS_BY_NAME:
                continue
            columns = series.get("columns") or ()
            if not columns or columns[0] != "time":
                continue
            index = {c: i for i, c in enumerate(columns)}
            value_col = next((i for i, c in enumerate(columns) if c != "time" and c not in NODE_TAGS), None)
            if value_col is None or ATTR_HOST_NAME not in index:
                continue
            for row in series.get("values") or ():
                if len(row) != len(columns) or not isinstance(row[0], int):
                    continue
                host, value = row[index[ATTR_HOST_NAME]], finite(row[value_col])
                if not host or value is None:
                    continue
                key = (series["name"],) + tuple(
                    row[index[a]] if a in index else None for a in (ATTR_STATE, ATTR_DEVICE, ATTR_DIRECTION, ATTR_MOUNTPOINT))
                node = nodes.setdefault(host, _Node())
                seen = node.points.get(key)
                if seen is None or row[0] >= seen[0]:
                    node.points[key] = (row[0], value)
                node.time = max(node.time, row[0])
    out = {}
    for host, node in nodes.items():
        try:
            out[host] = NodeObservation(host, from_epoch(microseconds=node.time), node.snapshot())
        except (OverflowError, ValueError):
            continue
    return out
