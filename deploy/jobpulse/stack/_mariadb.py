"""MariaDB (Debian's `mariadb-server`) as our own process, for the hub's MySQL database."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from ._errors import MissingProgramError, QueryError, StartError
from ._net import port_open
from ._process import ServerProcess, stop_pid

_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")


class MariaDB(ServerProcess):
    """One MariaDB server whose data lives under ``home``; reached over TCP on loopback.

    ``time_zone`` sets the server's session default: tests run it off UTC so that any SQL
    comparing a UTC DATETIME with NOW() instead of UTC_TIMESTAMP() shows up as wrong.
    """

    def __init__(self, home: Path, port: int, user: str, password: str | Callable[[], str],
                 time_zone: str | None = None) -> None:
        super().__init__(home, "mariadbd")
        self.host = "127.0.0.1"
        self.port = port
        self.user = user
        # A callable is asked only when the password is needed (a generated one is written to disk then).
        self._password = password
        self.time_zone = time_zone
        self._data = self.home / "data"
        self._socket = self.home / "mysqld.sock"

    @property
    def password(self) -> str:
        return self._password() if callable(self._password) else self._password

    def url(self, database: str) -> str:
        return f"mysql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def start(self, timeout: float = 90.0) -> None:
        if self.running:
            return
        server = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin:/usr/local/sbin")
        installer = shutil.which("mariadb-install-db")
        if server is None or installer is None:
            raise MissingProgramError("mariadbd is not installed: run `make setup` (Debian package mariadb-server)")
        self.home.mkdir(parents=True, exist_ok=True)
        first_start = not (self._data / "mysql").is_dir()
        if first_start:
            result = subprocess.run(
                [installer, "--no-defaults", f"--datadir={self._data}", "--user=root",
                 "--auth-root-authentication-method=socket", "--skip-test-db"],
                capture_output=True, text=True,
            )
            if result.returncode != 0:
                raise StartError(f"mariadb-install-db failed: {result.stderr.strip() or result.stdout.strip()}")
        argv = [
            server, "--no-defaults", f"--datadir={self._data}", f"--socket={self._socket}",
            f"--port={self.port}", "--bind-address=127.0.0.1", f"--pid-file={self.home / 'server.pid'}",
            "--user=root", "--skip-name-resolve", "--innodb-buffer-pool-size=256M",
            "--max-connections=500", f"--log-error={self.log_file}",
        ]
        if self.time_zone:
            argv.append(f"--default-time-zone={self.time_zone}")
        self._launch(argv, lambda: port_open(self.port) and self._socket.exists(), timeout,
                     f"MariaDB did not start on port {self.port}", output=self.home / "mariadbd.out")
        self._admin(
            f"CREATE USER IF NOT EXISTS '{self.user}'@'127.0.0.1' IDENTIFIED BY '{self._sql_literal(self.password)}';"
            f"ALTER USER '{self.user}'@'127.0.0.1' IDENTIFIED BY '{self._sql_literal(self.password)}';"
            f"GRANT ALL PRIVILEGES ON *.* TO '{self.user}'@'127.0.0.1' WITH GRANT OPTION;"
        )

    def stop(self) -> None:
        # InnoDB's clean shutdown flushes its buffer pool: give it longer than the default.
        stop_pid(self._pid_file, timeout=60.0)

    def create_database(self, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        self._admin(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        if not _NAME.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        self._admin(f"DROP DATABASE IF EXISTS `{name}`;")

    def execute(self, sql: str) -> None:
        self._admin(sql)

    def _admin(self, sql: str) -> None:
        """Run SQL as root over the unix socket (root authenticates by socket, no password)."""
        client = shutil.which("mariadb") or shutil.which("mysql")
        if client is None:
            raise MissingProgramError("the mariadb client is not installed: run `make setup`")
        for attempt in range(20):
            result = subprocess.run(
                [client, "--no-defaults", f"--socket={self._socket}", "-uroot", "-e", sql],
                capture_output=True, text=True,
            )
            if result.returncode == 0:
                return
            # Right after start the server may still refuse connections for a moment.
            if "Can't connect" not in result.stderr or attempt == 19:
                raise QueryError(f"MariaDB: {result.stderr.strip()}")
            time.sleep(0.25)

    @staticmethod
    def _sql_literal(value: str) -> str:
        return value.replace("\\", "\\\\").replace("'", "\\'")

    def describe(self) -> str:
        state = "running" if self.running else "stopped"
        return f"MariaDB     {state:8} {self.host}:{self.port} user={self.user} data={self.home}"

