"""InfluxDB 1.x (Debian's `influxd`) as our own process, spoken to over its v1 HTTP API."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ._errors import MissingProgramError, QueryError
from ._net import http_status
from ._process import ServerProcess

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


class InfluxDB(ServerProcess):
    """One InfluxDB server whose data lives under ``home``."""

    def __init__(self, home: Path, http_port: int, rpc_port: int, database: str = "jobpulse",
                 retention: str = "30d") -> None:
        super().__init__(home, "influxd")
        self.http_port = http_port
        self.rpc_port = rpc_port
        self.database = database
        self.retention = retention
        self.url = f"http://127.0.0.1:{http_port}"

    def start(self, timeout: float = 60.0) -> None:
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
        self.query(f'CREATE DATABASE "{self.database}" WITH DURATION {self.retention} NAME "autogen"', db=None)

    def query(self, q: str, db: str | None = "", epoch: str | None = None) -> dict:
        """Run InfluxQL through /query; raises QueryError on an HTTP or statement error."""
        params = {"q": q}
        database = self.database if db == "" else db
        if database:
            params["db"] = database
        if epoch:
            params["epoch"] = epoch
        data = urllib.parse.urlencode(params).encode()
        try:
            with urllib.request.urlopen(f"{self.url}/query", data=data, timeout=60) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            raise QueryError(f"InfluxDB /query answered {exc.code}: {exc.read().decode(errors='replace')}") from exc
        except OSError as exc:
            raise QueryError(f"InfluxDB at {self.url} is unreachable: {exc}") from exc
        for result in body.get("results", []):
            if "error" in result:
                raise QueryError(f"InfluxQL error: {result['error']} (query: {q})")
        return body

    def write(self, lines: str, db: str | None = None, precision: str = "ns") -> None:
        """Write line protocol through /write."""
        params = urllib.parse.urlencode({"db": db or self.database, "precision": precision})
        request = urllib.request.Request(f"{self.url}/write?{params}", data=lines.encode(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=60):
                pass
        except urllib.error.HTTPError as exc:
            raise QueryError(f"InfluxDB /write answered {exc.code}: {exc.read().decode(errors='replace')}") from exc
        except OSError as exc:
            raise QueryError(f"InfluxDB at {self.url} is unreachable: {exc}") from exc

    def describe(self) -> str:
        state = "running" if self.running else "stopped"
        return f"InfluxDB    {state:8} {self.url} database={self.database} data={self.home}"
