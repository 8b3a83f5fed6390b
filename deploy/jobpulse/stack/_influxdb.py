"""InfluxDB as our own process: what both major versions share (InfluxQL through /query, line protocol
in, the settings the collector, the hub and Grafana need), and 1.x (Debian's ``influxd``)."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ._errors import MissingProgramError, QueryError
from ._net import http_status
from ._paths import repo_root
from ._process import ServerProcess


class InfluxServer(ServerProcess):
    """One InfluxDB server whose data lives under ``home``; ``database`` is the InfluxQL database
    (on 2.x, the bucket its DBRP mapping names)."""

    major: int
    collector_config_name: str

    def __init__(self, home: Path, program: str, http_port: int, database: str) -> None:
        super().__init__(home, program)
        self.http_port = http_port
        self.database = database
        self.url = f"http://127.0.0.1:{http_port}"

    @property
    def collector_config(self) -> Path:
        """The collector configuration that writes to this version."""
        return repo_root() / "collector-config" / self.collector_config_name

    def collector_environment(self) -> dict[str, str]:
        """The JOBPULSE_INFLUX_* variables ``collector_config`` reads."""
        raise NotImplementedError

    def hub_environment(self) -> dict[str, str]:
        """The hub's JOBPULSE_INFLUX_* settings: it reads InfluxQL and writes the node snapshots legacy daemons post."""
        raise NotImplementedError

    def grafana_environment(self) -> dict[str, str]:
        """The variables the Grafana datasource file of this version expands (read-only access)."""
        raise NotImplementedError

    def token(self, client: str) -> str:
        """The token of one client (collector, hub, grafana); 1.x here runs without authentication."""
        return ""

    def create_database(self, name: str) -> None:
        raise NotImplementedError

    def drop_database(self, name: str) -> None:
        raise NotImplementedError

    def _admin_headers(self) -> dict[str, str]:
        return {}

    def _write_target(self, database: str, precision: str) -> tuple[str, dict[str, str]]:
        return "/write", {"db": database, "precision": precision}

    def _post(self, path: str, params: dict[str, str], body: bytes, what: str) -> bytes:
        request = urllib.request.Request(f"{self.url}{path}?{urllib.parse.urlencode(params)}", data=body,
                                         method="POST", headers=self._admin_headers())
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            raise QueryError(f"InfluxDB {what} answered {exc.code}: {exc.read().decode(errors='replace')}") from exc
        except OSError as exc:
            raise QueryError(f"InfluxDB at {self.url} is unreachable: {exc}") from exc

    def query(self, q: str, db: str | None = "", epoch: str | None = None) -> dict:
        """Run InfluxQL through /query; raises QueryError on an HTTP or statement error."""
        params = {"q": q}
        database = self.database if db == "" else db
        if database:
            params["db"] = database
        if epoch:
            params["epoch"] = epoch
        body = json.loads(self._post("/query", {}, urllib.parse.urlencode(params).encode(), "/query"))
        for result in body.get("results", []):
            if "error" in result:
                raise QueryError(f"InfluxQL error: {result['error']} (query: {q})")
        return body

    def write(self, lines: str, db: str | None = None, precision: str = "ns") -> None:
        """Write line protocol (the version's own write API)."""
        path, params = self._write_target(db or self.database, precision)
        self._post(path, params, lines.encode(), path)


_CONFIG = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{data}/meta"

[data]
  dir = "{data}/data"
  wal-dir = "{data}/wal"
  query-log-enabled = false
  # 160 000 series and more must fit: the hub's benchmark writes 10 000 jobs.
  max-series-per-database = 0
  max-values-per-tag = 0

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
  max-body-size = 0

[logging]
  level = "warn"

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false
"""


class InfluxDB(InfluxServer):
    """InfluxDB 1.x (Debian's package), without authentication, on loopback only."""

    major = 1
    collector_config_name = "otelcol-influxdb1.yaml"

    def __init__(self, home: Path, http_port: int, rpc_port: int, database: str = "jobpulse",
                 retention: str = "30d") -> None:
        super().__init__(home, "influxd", http_port, database)
        self.rpc_port = rpc_port
        self.retention = retention

    def start(self, timeout: float = 60.0, build: bool = False) -> None:
        """``build`` is 2.x's (built from source); Debian's 1.x is installed by `make setup`."""
        if self.running:
            return
        program = shutil.which("influxd")
        if program is None:
            raise MissingProgramError("influxd is not installed: run `make setup` (Debian package influxdb)")
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "influxdb.conf"
        config.write_text(_CONFIG.format(data=self.home, http_port=self.http_port, rpc_port=self.rpc_port))
        self._launch([program, "-config", str(config)], lambda: http_status(f"{self.url}/ping") == 204,
                     timeout, f"InfluxDB did not start on port {self.http_port}")
        self.create_database(self.database)

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}" WITH DURATION {self.retention} NAME "autogen"', db=None)

    def drop_database(self, name: str) -> None:
        self.query(f'DROP DATABASE "{name}"', db=None)

    def collector_environment(self) -> dict[str, str]:
        return {"JOBPULSE_INFLUX_URL": self.url, "JOBPULSE_INFLUX_DB": self.database}

    def hub_environment(self) -> dict[str, str]:
        return {"JOBPULSE_INFLUX_URL": self.url, "JOBPULSE_INFLUX_DB": self.database}

    def grafana_environment(self) -> dict[str, str]:
        return {"JOBPULSE_INFLUX_URL": self.url, "JOBPULSE_INFLUX_DB": self.database,
                "JOBPULSE_INFLUX_USERNAME": "", "JOBPULSE_INFLUX_PASSWORD": ""}

    def describe(self) -> str:
        state = "running" if self.running else "stopped"
        return f"InfluxDB    {state:8} {self.url} database={self.database} data={self.home}"
