"""The jobpulse OpenTelemetry Collector (built by collector-config/build.sh) as our own process."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from ._errors import MissingProgramError
from ._influxdb import InfluxServer
from ._net import http_status
from ._paths import repo_root
from ._process import ServerProcess


def _token_from_environment() -> str:
    return os.environ.get("JOBPULSE_OTLP_TOKEN", "")


def collector_binary(build: bool = True) -> Path:
    """The built collector; builds (or confirms the cached build of) it first when ``build``."""
    config_dir = repo_root() / "collector-config"
    binary = config_dir / "build" / "src" / "otelcol-jobpulse"
    if build:
        result = subprocess.run(["bash", str(config_dir / "build.sh")], stdout=subprocess.PIPE, text=True)
        if result.returncode != 0:
            raise MissingProgramError("the collector could not be built: see the messages above")
    if not binary.exists():
        raise MissingProgramError(f"no collector at {binary}: run `make collector`")
    return binary


class Collector(ServerProcess):
    """One collector process: OTLP in on two ports, out to ``influxdb`` through the configuration of its
    version (otelcol-influxdb1.yaml or otelcol-influxdb2.yaml), its queue under ``home``."""

    def __init__(self, home: Path, grpc_port: int, http_port: int, health_port: int, metrics_port: int,
                 influxdb: InfluxServer, config: Path | None = None, token: Callable[[], str] | None = None,
                 overlays: tuple[Path, ...] = (), extra_env: dict[str, str] | None = None) -> None:
        """``token``: the bearer token its OTLP receivers require (default $JOBPULSE_OTLP_TOKEN);
        ``overlays``: configs merged over ``config`` (collector-config/otlp-tls.yaml)."""
        super().__init__(home, "otelcol")
        self._token = token or _token_from_environment
        self.overlays = overlays
        self._extra_env = dict(extra_env or {})
        self.grpc_port = grpc_port
        self.http_port = http_port
        self.health_port = health_port
        self.metrics_port = metrics_port
        self.influxdb = influxdb
        self.config = config or influxdb.collector_config
        self.otlp_http = f"http://127.0.0.1:{http_port}"
        self.otlp_grpc = f"http://127.0.0.1:{grpc_port}"
        self.health_url = f"http://127.0.0.1:{health_port}/"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "JOBPULSE_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{self.grpc_port}",
            "JOBPULSE_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{self.http_port}",
            "JOBPULSE_COLLECTOR_HEALTH_ENDPOINT": f"127.0.0.1:{self.health_port}",
            "JOBPULSE_COLLECTOR_METRICS_PORT": str(self.metrics_port),
            "JOBPULSE_COLLECTOR_STORAGE_DIR": str(self.home / "queue"),
        })
        env.update(self.influxdb.collector_environment())
        token = self._token()
        if token:
            env["JOBPULSE_OTLP_TOKEN"] = token
        env.update(self._extra_env)
        return env

    @property
    def token(self) -> str:
        return self._token()

    def start(self, timeout: float = 60.0, build: bool = False) -> None:
        if self.running:
            return
        binary = collector_binary(build=build)
        self.influxdb.token("collector")  # a 2.x server must have been set up: no token, no writes
        (self.home / "queue").mkdir(parents=True, exist_ok=True)
        configs = [arg for path in (self.config, *self.overlays) for arg in ("--config", str(path))]
        self._launch([str(binary), *configs], lambda: http_status(self.health_url) == 200,
                     timeout, f"the collector did not become healthy on port {self.health_port}",
                     env=self.environment())

    def validate(self, config: Path) -> subprocess.CompletedProcess:
        """The built binary's own `validate` of a config file, with this collector's environment."""
        return subprocess.run([str(collector_binary(build=False)), "validate", "--config", str(config)],
                              env=self.environment(), capture_output=True, text=True)

    def describe(self) -> str:
        state = "running" if self.running else "stopped"
        return (f"Collector   {state:8} OTLP http={self.otlp_http} grpc=127.0.0.1:{self.grpc_port} "
                f"health={self.health_url} -> {self.influxdb.url} db={self.influxdb.database}")


class NodeCollector(ServerProcess):
    """The node collector (otelcol-node.yaml) of this machine: host metrics to the collector's OTLP."""

    def __init__(self, home: Path, health_port: int, metrics_port: int, gateway: str, node_name: str,
                 interval: str = "5s", token: Callable[[], str] | None = None) -> None:
        super().__init__(home, "otelcol-node")
        self._token = token or _token_from_environment
        self.health_port = health_port
        self.metrics_port = metrics_port
        self.gateway = gateway
        self.node_name = node_name
        self.interval = interval
        self.config = repo_root() / "collector-config" / "otelcol-node.yaml"
        self.health_url = f"http://127.0.0.1:{health_port}/"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "JOBPULSE_NODE_GATEWAY": self.gateway,
            "JOBPULSE_NODE_NAME": self.node_name,
            "JOBPULSE_NODE_INTERVAL": self.interval,
            "JOBPULSE_NODE_HEALTH_ENDPOINT": f"127.0.0.1:{self.health_port}",
            "JOBPULSE_NODE_METRICS_PORT": str(self.metrics_port),
            "JOBPULSE_NODE_STORAGE_DIR": str(self.home / "queue"),
        })
        token = self._token()
        if token:
            env["JOBPULSE_OTLP_TOKEN"] = token
        return env

    def start(self, timeout: float = 60.0) -> None:
        if self.running:
            return
        (self.home / "queue").mkdir(parents=True, exist_ok=True)
        self._launch([str(collector_binary(build=False)), "--config", str(self.config)],
                     lambda: http_status(self.health_url) == 200, timeout,
                     f"the node collector did not become healthy on port {self.health_port}", env=self.environment())

    def describe(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Node        {state:8} host metrics of {self.node_name} every {self.interval} -> {self.gateway}"
