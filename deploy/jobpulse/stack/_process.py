"""Starting a server as our own background process and stopping exactly that process, by pid."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0): reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def read_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def spawn(argv: list[str], log_file: Path, pid_file: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> int:
    """Start argv detached from our terminal (its own session), output appended to log_file."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=cwd, start_new_session=True,
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def stop_pid(pid_file: Path, timeout: float = 20.0) -> bool:
    """Stop the process recorded in pid_file (TERM, then KILL). True if one was running."""
    pid = read_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.05)
    pid_file.unlink(missing_ok=True)
    return True


def kill_pid(pid_file: Path) -> None:
    """SIGKILL the recorded process: a crash, for outage tests."""
    pid = read_pid(pid_file)
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.05)
    pid_file.unlink(missing_ok=True)


class ServerProcess:
    """A server run as our own process: started detached, known by its pid file, stopped by pid."""

    def __init__(self, home: Path, program: str) -> None:
        self.home = home.resolve()
        self._pid_file = self.home / f"{program}.pid"
        self.log_file = self.home / f"{program}.log"

    @property
    def running(self) -> bool:
        return read_pid(self._pid_file) is not None

    @property
    def pid(self) -> int | None:
        """The running server's pid (None when stopped)."""
        return read_pid(self._pid_file)

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        stop_pid(self._pid_file)

    def kill(self) -> None:
        """SIGKILL: a crash, for outage tests."""
        kill_pid(self._pid_file)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _launch(self, argv: list[str], ready, timeout: float, failure: str,
                env: dict[str, str] | None = None, output: Path | None = None) -> None:
        """Spawn argv, then wait until ``ready()`` holds; StartError naming the log if it never does."""
        from ._errors import StartError
        from ._net import wait_until

        self.home.mkdir(parents=True, exist_ok=True)
        spawn(argv, output or self.log_file, self._pid_file, env=env)
        if not wait_until(lambda: ready() or not self.running, timeout) or not self.running:
            raise StartError(f"{failure}: see {self.log_file}")
