"""Session fixtures: the real InfluxDB, MariaDB and collector, started for this test run.

Every test session starts its own servers on free loopback ports with data under
.run/test-<pid>/ and stops exactly those processes at the end, so a running demo stack
or another session is never touched. MariaDB runs with a session time zone of +03:00:
SQL that compares our UTC DATETIMEs with NOW() instead of UTC_TIMESTAMP() fails here.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest

from jobpulse.stack import Ports, Stack, pid_alive, run_dir
from jobpulse.stack import repo_root as _repo_root

# Subprocesses (jobpulse-agent, jobpulse-hub) come from this interpreter's venv.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
# Agents run by the tests keep their offline spool with this session's servers, so batches
# spooled while a test's collector was down are never replayed into a later demo or session.
os.environ["JOBPULSE_SPOOL_DIR"] = str(run_dir() / f"test-{os.getpid()}" / "agent-spool")


def _reap_abandoned_stacks() -> None:
    """Stop servers left behind by a test session that was killed before its teardown."""
    root = run_dir()
    for home in root.glob("test-*"):
        try:
            owner = int(home.name.split("-", 1)[1])
        except ValueError:
            continue
        if owner != os.getpid() and not pid_alive(owner):
            Stack(home=home).down(say=lambda _msg: None)
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return _repo_root()


@pytest.fixture(scope="session")
def _stack():
    _reap_abandoned_stacks()
    stack = Stack(name=f"test-{os.getpid()}", ports=Ports.free(), mysql_time_zone="+03:00")
    try:
        yield stack
    finally:
        stack.down(say=lambda _msg: None)
        shutil.rmtree(stack.home, ignore_errors=True)


@pytest.fixture(scope="session")
def influxdb(_stack):
    _stack.influxdb.start()
    return _stack.influxdb


@pytest.fixture(scope="session")
def mariadb(_stack):
    _stack.mariadb.start()
    return _stack.mariadb


@pytest.fixture
def mysql_url(mariadb):
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = mariadb.create_database(name)
    yield url
    if not mariadb.running:
        mariadb.start()
    mariadb.drop_database(name)


@pytest.fixture(scope="session")
def collector(_stack, influxdb):
    _stack.collector.start(build=True)
    return _stack.collector


@pytest.fixture
def agent_env(collector):
    env = dict(os.environ)
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.otlp_http
    env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
    return env


@pytest.fixture(scope="session")
def stack(_stack, influxdb, mariadb, collector):
    """The whole pipeline up: InfluxDB, MariaDB and the collector (the hub is started per test)."""
    return _stack
