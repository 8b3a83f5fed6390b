"""The jobpulse hub (`jobpulse-hub`) as our own process."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ._net import http_status
from ._process import ServerProcess


class Hub(ServerProcess):
    def __init__(self, home: Path, port: int) -> None:
        super().__init__(home, "hub")
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._settings: dict[str, str] = {}

    def start(self, settings: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        """Start with these JOBPULSE_* settings (the last ones given, on a restart)."""
        if settings is not None:
            self._settings = dict(settings)
        if self.running:
            return
        env = dict(os.environ)
        env.update(self._settings)
        env["JOBPULSE_HOST"] = "127.0.0.1"
        env["JOBPULSE_PORT"] = str(self.port)
        program = shutil.which("jobpulse-hub", path=str(Path(sys.executable).parent)) or shutil.which("jobpulse-hub")
        argv = [program] if program else [sys.executable, "-m", "jobpulse.hub"]
        self._launch(argv, lambda: http_status(f"{self.url}/healthz") == 200, timeout,
                     f"the hub did not answer on port {self.port}", env=env)

    def describe(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Hub         {state:8} {self.url}"
