"""Node metrics: what the node collector (collector-config/otelcol-node.yaml, the hostmetrics
receiver) sends for each host that runs jobs, under the receiver's own names. The hub derives the
seed's node snapshot (cpu_percent, memory_percent, ...) from them; docs/metrics.md lists the
series a node costs."""

from __future__ import annotations

from ._metrics import OBSERVABLE_COUNTER, OBSERVABLE_GAUGE, MetricSpec

# The resource attribute naming the node; the agent sets the same on the jobs it runs.
ATTR_HOST_NAME = "host.name"
# Point attributes of the hostmetrics receiver that the hub reads.
ATTR_STATE = "state"
ATTR_DEVICE = "device"
ATTR_DIRECTION = "direction"
ATTR_MOUNTPOINT = "mountpoint"
NODE_POINT_ATTRIBUTES = (ATTR_STATE, ATTR_DEVICE, ATTR_DIRECTION, ATTR_MOUNTPOINT)


def _node(name, instrument, unit, quantity, description, *attributes):
    return MetricSpec(name, instrument, unit, description, (ATTR_HOST_NAME,) + attributes, quantity)


NODE_CPU = _node("system.cpu.utilization", OBSERVABLE_GAUGE, "1", "cpu_percent",
                 "Share of CPU time per state, averaged over the node's CPUs (0..1).", ATTR_STATE)
NODE_MEMORY_USAGE = _node("system.memory.usage", OBSERVABLE_GAUGE, "By", "memory_used_mb",
                          "Memory in bytes per state (used, free, buffered, cached, slab_*).", ATTR_STATE)
NODE_MEMORY_LIMIT = _node("system.memory.limit", OBSERVABLE_GAUGE, "By", "memory_total_mb",
                          "Total memory in bytes.")
NODE_FILESYSTEM = _node("system.filesystem.usage", OBSERVABLE_GAUGE, "By", "disk_used_gb",
                        "Filesystem bytes per state (used, free, reserved).", ATTR_DEVICE, ATTR_MOUNTPOINT,
                        ATTR_STATE, "mode", "type")
NODE_DISK_IO = _node("system.disk.io", OBSERVABLE_COUNTER, "By", "disk_io_bytes",
                     "Bytes read and written per block device.", ATTR_DEVICE, ATTR_DIRECTION)
NODE_NETWORK_IO = _node("system.network.io", OBSERVABLE_COUNTER, "By", "network_rx_bytes",
                        "Bytes received and transmitted per interface.", ATTR_DEVICE, ATTR_DIRECTION)
NODE_CONNECTIONS = _node("system.network.connections", OBSERVABLE_GAUGE, "{connections}", "active_connections",
                         "TCP connections: ESTABLISHED and other.", "protocol", ATTR_STATE)
NODE_PROCESSES = _node("system.processes.count", OBSERVABLE_GAUGE, "{processes}", "process_count",
                       "Processes of every status.")
NODE_UPTIME = _node("system.uptime", OBSERVABLE_GAUGE, "s", "uptime_seconds", "Seconds since boot.")
NODE_LOAD_1M = _node("system.cpu.load_average.1m", OBSERVABLE_GAUGE, "{thread}", "load_avg_1m", "Load average, 1 min.")
NODE_LOAD_5M = _node("system.cpu.load_average.5m", OBSERVABLE_GAUGE, "{thread}", "load_avg_5m", "Load average, 5 min.")
NODE_LOAD_15M = _node("system.cpu.load_average.15m", OBSERVABLE_GAUGE, "{thread}", "load_avg_15m",
                      "Load average, 15 min.")

NODE_METRICS = (NODE_CPU, NODE_MEMORY_USAGE, NODE_MEMORY_LIMIT, NODE_FILESYSTEM, NODE_DISK_IO, NODE_NETWORK_IO,
                NODE_CONNECTIONS, NODE_PROCESSES, NODE_UPTIME, NODE_LOAD_1M, NODE_LOAD_5M, NODE_LOAD_15M)
NODE_METRICS_BY_NAME = {m.name: m for m in NODE_METRICS}

# Fixed series of one node: 8 CPU states, 6 memory states, memory total, 2 connection states,
# processes, uptime, 3 load averages; then 3 per filesystem, 2 per disk, 2 per interface.
NODE_FIXED_SERIES = 8 + 6 + 1 + 2 + 1 + 1 + 3


def series_per_node(filesystems: int = 1, disks: int = 1, interfaces: int = 1) -> int:
    return NODE_FIXED_SERIES + 3 * filesystems + 2 * disks + 2 * interfaces
