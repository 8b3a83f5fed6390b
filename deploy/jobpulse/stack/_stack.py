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
from ._hub import Hub
from ._influxdb import InfluxDB
from ._mariadb import MariaDB
from ._net import free_port
from ._paths import run_dir
from ._secrets import local_secret


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
        def port(name: str, default: int) -> int:
            return int(os.environ.get(name, default))
        return cls(
            influx_http=port("JOBPULSE_INFLUX_PORT", 8086),
            influx_rpc=port("JOBPULSE_INFLUX_RPC_PORT", 8088),
            mysql=port("JOBPULSE_MYSQL_PORT", 3306),
            otlp_grpc=port("JOBPULSE_OTLP_GRPC_PORT", 4317),
            otlp_http=port("JOBPULSE_OTLP_HTTP_PORT", 4318),
            collector_health=port("JOBPULSE_COLLECTOR_HEALTH_PORT", 13133),
            collector_metrics=port("JOBPULSE_COLLECTOR_METRICS_PORT", 8888),
            hub=port("JOBPULSE_HUB_PORT", 8000),
            node_health=port("JOBPULSE_NODE_HEALTH_PORT", 13134),
            node_metrics=port("JOBPULSE_NODE_METRICS_PORT", 8889),
        )

    @classmethod
    def free(cls) -> "Ports":
        return cls(**{name: free_port() for name in cls.__dataclass_fields__})


class Stack:
    def __init__(self, name: str = "local", ports: Ports | None = None, mysql_time_zone: str | None = None,
                 home: Path | None = None) -> None:
        self.home = (home or run_dir() / name).resolve()
        self.home.mkdir(parents=True, exist_ok=True)
        state_file = self.home / "state.json"
        if ports is None and state_file.exists():
            saved = json.loads(state_file.read_text())["ports"]
            # A stack saved by an older version lacks the newer servers' ports: those take the defaults.
            ports = Ports(**{**asdict(Ports.from_env()), **{k: v for k, v in saved.items() if k in Ports.__dataclass_fields__}})
        self.ports = ports or Ports.from_env()
        state_file.write_text(json.dumps({"ports": asdict(self.ports)}, indent=2) + "\n")
        self.database = os.environ.get("JOBPULSE_INFLUX_DB", "jobpulse")
        self.influxdb = InfluxDB(self.home / "influxdb", self.ports.influx_http, self.ports.influx_rpc,
                                 database=self.database)
        self.mariadb = MariaDB(self.home / "mariadb", self.ports.mysql,
                               user=os.environ.get("JOBPULSE_MYSQL_USER", "jobpulse"),
                               password=local_secret("JOBPULSE_MYSQL_PASSWORD", self.home / "secrets" / "mysql-password"),
                               time_zone=mysql_time_zone)
        self.collector = Collector(self.home / "collector", self.ports.otlp_grpc, self.ports.otlp_http,
                                   self.ports.collector_health, self.ports.collector_metrics,
                                   influx_url=self.influxdb.url, influx_db=self.database)
        self.hub = Hub(self.home / "hub", self.ports.hub)
        self.node = NodeCollector(self.home / "node", self.ports.node_health, self.ports.node_metrics,
                                  gateway=self.collector.otlp_http,
                                  node_name=os.environ.get("JOBPULSE_NODE_NAME") or socket.gethostname())

    def hub_environment(self, database: str = "jobpulse") -> dict[str, str]:
        secrets = self.home / "secrets"
        return {
            "JOBPULSE_DATABASE_URL": self.mariadb.url(database),
            "JOBPULSE_INFLUX_URL": self.influxdb.url,
            "JOBPULSE_INFLUX_DB": self.database,
            "JOBPULSE_API_TOKEN": local_secret("JOBPULSE_API_TOKEN", secrets / "api-token"),
            "JOBPULSE_WEBHOOK_USER": os.environ.get("JOBPULSE_WEBHOOK_USER", "grafana"),
            "JOBPULSE_WEBHOOK_PASSWORD": local_secret("JOBPULSE_WEBHOOK_PASSWORD", secrets / "webhook-password"),
        }

    def agent_environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = self.collector.otlp_http
        env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
        return env

    def up(self, hub: bool = True, say=print) -> None:
        say("starting InfluxDB ...")
        self.influxdb.start()
        say("starting MariaDB ...")
        self.mariadb.start()
        self.mariadb.create_database("jobpulse")
        say("starting the collector ...")
        self.collector.start(build=True)
        say("starting the node collector ...")
        self.node.start()
        if hub:
            say("starting the hub ...")
            self.hub.start(self.hub_environment())

    def down(self, say=print) -> None:
        for name, server in (("hub", self.hub), ("node collector", self.node), ("collector", self.collector),
                             ("MariaDB", self.mariadb), ("InfluxDB", self.influxdb)):
            if server.running:
                say(f"stopping {name} ...")
            server.stop()

    def describe(self) -> list[str]:
        return [self.influxdb.describe(), self.mariadb.describe(), self.collector.describe(), self.node.describe(),
                self.hub.describe()]
