"""The jobpulse hub (`jobpulse-hub`) as our own process."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ._errors import StartError
from ._net import http_status, wait_until
from ._process import kill_pid, read_pid, spawn, stop_pid


class Hub:
    def __init__(self, home: Path, port: int) -> None:
        self.home = home.resolve()
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._pid_file = self.home / "hub.pid"
        self.log_file = self.home / "hub.log"

    @property
    def running(self) -> bool:
        return read_pid(self._pid_file) is not None

    def start(self, settings: dict[str, str], timeout: float = 60.0) -> None:
        if self.running:
            return
        self.home.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(settings)
        env["JOBPULSE_HOST"] = "127.0.0.1"
        env["JOBPULSE_PORT"] = str(self.port)
        program = shutil.which("jobpulse-hub", path=str(Path(sys.executable).parent)) or shutil.which("jobpulse-hub")
        argv = [program] if program else [sys.executable, "-m", "jobpulse.hub"]
        spawn(argv, self.log_file, self._pid_file, env=env)
        if not wait_until(lambda: http_status(f"{self.url}/healthz") == 200 or not self.running, timeout) \
                or not self.running:
            raise StartError(f"the hub did not answer on port {self.port}: see {self.log_file}")

    def stop(self) -> None:
        stop_pid(self._pid_file)

    def kill(self) -> None:
        kill_pid(self._pid_file)

    def describe(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Hub         {state:8} {self.url}"
