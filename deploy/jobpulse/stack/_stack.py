"""The local stack: InfluxDB, MariaDB, the collector and the hub, each our own process.

A stack has a name and a folder under the run directory; its ports are chosen once
(configured, or free ones) and kept in state.json so that `jobpulse-stack down` from
another shell stops exactly the processes `up` started.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from ._collector import Collector, NodeCollector
from ._errors import PortBusyError, StackError
from ._hub import Hub
from ._influxdb import InfluxDB, InfluxServer
from ._influxdb2 import InfluxDB2
from ._mariadb import MariaDB
from ._net import free_port, port_open
from ._paths import run_dir
from ._secrets import local_secret


# Each port, the variable that configures it and its default (docs/stack.md lists them).
PORT_VARIABLES: dict[str, tuple[str, int]] = {
    "influx_http": ("JOBPULSE_INFLUX_PORT", 8086),
    "influx_rpc": ("JOBPULSE_INFLUX_RPC_PORT", 8088),
    "mysql": ("JOBPULSE_MYSQL_PORT", 3306),
    "otlp_grpc": ("JOBPULSE_OTLP_GRPC_PORT", 4317),
    "otlp_http": ("JOBPULSE_OTLP_HTTP_PORT", 4318),
    "collector_health": ("JOBPULSE_COLLECTOR_HEALTH_PORT", 13133),
    "collector_metrics": ("JOBPULSE_COLLECTOR_METRICS_PORT", 8888),
    "hub": ("JOBPULSE_HUB_PORT", 8000),
    "node_health": ("JOBPULSE_NODE_HEALTH_PORT", 13134),
    "node_metrics": ("JOBPULSE_NODE_METRICS_PORT", 8889),
}

# Which part listens on which ports, in start order.
PARTS: dict[str, tuple[str, ...]] = {
    "InfluxDB": ("influx_http", "influx_rpc"),
    "MariaDB": ("mysql",),
    "the collector": ("otlp_grpc", "otlp_http", "collector_health", "collector_metrics"),
    "the node collector": ("node_health", "node_metrics"),
    "the hub": ("hub",),
}


# The InfluxDB major version the stack runs: JOBPULSE_INFLUXDB, 2 (what users run) unless set.
INFLUXDB_VARIABLE = "JOBPULSE_INFLUXDB"
INFLUXDB_VERSIONS = (1, 2)
DEFAULT_INFLUXDB = 2


def influxdb_major(environ=os.environ) -> int:
    text = environ.get(INFLUXDB_VARIABLE, "").strip()
    if not text:
        return DEFAULT_INFLUXDB
    if text not in {str(v) for v in INFLUXDB_VERSIONS}:
        raise StackError(f"{INFLUXDB_VARIABLE}={text!r}: choose 1 (InfluxDB 1.x) or 2 (InfluxDB 2.7)")
    return int(text)


def _configured(variable: str, default: int) -> int:
    text = os.environ.get(variable)
    if text is None:
        return default
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise StackError(f"{variable}={text!r} is not a port number (1-65535)")
    return port


@dataclass(frozen=True)
class Ports:
    influx_http: int
    influx_rpc: int
    mysql: int
    otlp_grpc: int
    otlp_http: int
    collector_health: int
    collector_metrics: int
    hub: int
    node_health: int
    node_metrics: int

    @classmethod
    def from_env(cls) -> "Ports":
        """Configured ports (JOBPULSE_*_PORT), defaulting to each server's usual one."""
        return cls(**{name: _configured(var, default) for name, (var, default) in PORT_VARIABLES.items()})

    @classmethod
    def free(cls) -> "Ports":
        return cls(**{name: free_port() for name in cls.__dataclass_fields__})


def otlp_headers(token: str) -> str:
    """OTEL_EXPORTER_OTLP_HEADERS carrying the collector's bearer token (values URL-encoded)."""
    return f"Authorization=Bearer%20{token}"


class Stack:
    def __init__(self, name: str = "local", ports: Ports | None = None, mysql_time_zone: str | None = None,
                 home: Path | None = None, influxdb: int | None = None) -> None:
        """Nothing is written here (``status`` must leave no trace): the ports and the InfluxDB version are
        saved by ``up``, or at once when given explicitly (a test session's free ports)."""
        self.name = name
        self.home = (home or run_dir() / name).resolve()
        self._state_file = self.home / "state.json"
        self._mysql_time_zone = mysql_time_zone
        # What the stack could not do as configured, for the CLI to say (a changed port of a running part).
        self.notes: list[str] = []
        self.database = os.environ.get("JOBPULSE_INFLUX_DB", "jobpulse")
        wanted_major = influxdb if influxdb is not None else influxdb_major()
        self.influx_major = wanted_major
        if ports is not None:
            self._build(ports)
            self._save_state()
            return
        configured = Ports.from_env()
        if not self._state_file.exists():
            self._build(configured)
            return
        state = json.loads(self._state_file.read_text())
        # A stack saved by an older version lacks the newer servers' ports: those take the configured ones.
        saved = Ports(**{**asdict(configured), **{k: v for k, v in state["ports"].items() if k in PORT_VARIABLES}})
        # `down` must stop the InfluxDB `up` started, whichever is asked for now (a stack saved before
        # InfluxDB 2 ran 1.x).
        self.influx_major = state.get("influxdb", 1)
        self._build(saved)
        if wanted_major != self.influx_major:
            if self.influxdb.running:
                self.notes.append(f"{INFLUXDB_VARIABLE}={wanted_major} is not applied: InfluxDB "
                                  f"{self.influx_major}.x is running; `jobpulse-stack down --name {name}` first, "
                                  "then `up` again")
            else:
                self.influx_major = wanted_major
                self._build(saved)
        applied = dict(asdict(self.ports))
        for part, fields in PARTS.items():
            for field in fields:
                variable = PORT_VARIABLES[field][0]
                wanted, current = getattr(configured, field), getattr(self.ports, field)
                if variable not in os.environ or wanted == current:
                    continue
                if self._server(part).running:
                    self.notes.append(f"{variable}={wanted} is not applied: {part} is running on port {current}; "
                                      f"`jobpulse-stack down --name {name}` first, then `up` again")
                else:
                    applied[field] = wanted
        if applied != asdict(self.ports):
            self._build(Ports(**applied))

    def _build(self, ports: Ports) -> None:
        self.ports = ports
        secrets = self.home / "secrets"
        # Each version keeps its own data folder: switching never hands one's files to the other.
        self.influxdb: InfluxServer = (
            InfluxDB2(self.home / "influxdb2", ports.influx_http, database=self.database)
            if self.influx_major == 2 else
            InfluxDB(self.home / "influxdb", ports.influx_http, ports.influx_rpc, database=self.database))
        self.mariadb = MariaDB(self.home / "mariadb", ports.mysql,
                               user=os.environ.get("JOBPULSE_MYSQL_USER", "jobpulse"),
                               password=lambda: local_secret("JOBPULSE_MYSQL_PASSWORD", secrets / "mysql-password"),
                               time_zone=self._mysql_time_zone)
        otlp_token = lambda: local_secret("JOBPULSE_OTLP_TOKEN", secrets / "otlp-token")  # noqa: E731
        self.collector = Collector(self.home / "collector", ports.otlp_grpc, ports.otlp_http,
                                   ports.collector_health, ports.collector_metrics, self.influxdb, token=otlp_token)
        self.hub = Hub(self.home / "hub", ports.hub)
        self.node = NodeCollector(self.home / "node", ports.node_health, ports.node_metrics,
                                  gateway=self.collector.otlp_http,
                                  node_name=os.environ.get("JOBPULSE_NODE_NAME") or socket.gethostname(),
                                  token=otlp_token)

    def _server(self, part: str):
        return {"InfluxDB": self.influxdb, "MariaDB": self.mariadb, "the collector": self.collector,
                "the node collector": self.node, "the hub": self.hub}[part]

    def _save_state(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self._state_file.write_text(json.dumps({"ports": asdict(self.ports), "influxdb": self.influx_major},
                                               indent=2) + "\n")

    def _check_ports(self, part: str) -> None:
        """Before starting ``part``: each of its ports must be free, or the error names the one that is not."""
        for field in PARTS[part]:
            if field == "influx_rpc" and self.influx_major == 2:
                continue  # 2.x has no RPC (backup) port
            port = getattr(self.ports, field)
            if port_open(port):
                variable = PORT_VARIABLES[field][0]
                raise PortBusyError(f"cannot start {part}: port {port} ({variable}) is already in use by another "
                                    f"program; set {variable} to a free port (docs/stack.md) or stop that program")

    def hub_environment(self, database: str = "jobpulse") -> dict[str, str]:
        secrets = self.home / "secrets"
        return {
            "JOBPULSE_DATABASE_URL": self.mariadb.url(database),
            **self.influxdb.hub_environment(),
            "JOBPULSE_API_TOKEN": local_secret("JOBPULSE_API_TOKEN", secrets / "api-token"),
            "JOBPULSE_WEBHOOK_USER": os.environ.get("JOBPULSE_WEBHOOK_USER", "grafana"),
            "JOBPULSE_WEBHOOK_PASSWORD": local_secret("JOBPULSE_WEBHOOK_PASSWORD", secrets / "webhook-password"),
        }

    def agent_environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = self.collector.otlp_http
        env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
        env["OTEL_EXPORTER_OTLP_HEADERS"] = otlp_headers(self.collector.token)
        return env

    def up(self, hub: bool = True, say=print) -> None:
        self._save_state()
        starts = {
            "InfluxDB": lambda: self.influxdb.start(build=True),
            "MariaDB": self.mariadb.start,
            "the collector": lambda: self.collector.start(build=True),
            "the node collector": self.node.start,
            "the hub": lambda: self.hub.start(self.hub_environment()),
        }
        for part, start in starts.items():
            if part == "the hub" and not hub:
                continue
            if self._server(part).running:
                say(f"{part} already running")
            else:
                self._check_ports(part)
                say(f"starting {part} ...")
                start()
            if part == "MariaDB":
                self.mariadb.create_database("jobpulse")

    def down(self, say=print) -> None:
        for part in reversed(PARTS):
            server = self._server(part)
            if server.running:
                say(f"stopping {part} ...")
            server.stop()

    def describe(self) -> list[str]:
        return [self.influxdb.describe(), self.mariadb.describe(), self.collector.describe(), self.node.describe(),
                self.hub.describe()]
