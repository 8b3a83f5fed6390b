"""Session fixtures: the real InfluxDB, MariaDB and collector, started for this test run.

Every test session starts its own servers on free loopback ports with data under
.run/test-<pid>/ and stops exactly those processes at the end, so a running demo stack
or another session is never touched. MariaDB runs with a session time zone of +03:00:
SQL that compares our UTC DATETIMEs with NOW() instead of UTC_TIMESTAMP() fails here.

``influxdb`` and ``collector`` are InfluxDB 1.x and the collector writing to it, unless a test
is parametrized over ``influx_major`` (tests.support.influx.ON_BOTH_INFLUXDB): its InfluxDB 2.7
run gets a second InfluxDB (.run/test-<pid>-influxdb2/) with its own collector.
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

from jobpulse.stack import otlp_headers
from tests.support.leaks import leaks, secrets
from tests.support.otlp import COLLECTOR_TOKEN

# Subprocesses (jobpulse-agent, jobpulse-hub) come from this interpreter's venv.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
# Agents run by the tests keep their offline spool with this session's servers, so batches
# spooled while a test's collector was down are never replayed into a later demo or session.
os.environ["JOBPULSE_SPOOL_DIR"] = str(run_dir() / f"test-{os.getpid()}" / "agent-spool")
# The collectors' door is shut without the token: every collector and agent of the session shares it.
os.environ["JOBPULSE_OTLP_TOKEN"] = COLLECTOR_TOKEN
os.environ["OTEL_EXPORTER_OTLP_HEADERS"] = otlp_headers(COLLECTOR_TOKEN)


def _reap_abandoned_stacks() -> None:
    """Stop servers left behind by a test session that was killed before its teardown."""
    root = run_dir()
    for home in root.glob("test-*"):
        try:
            owner = int(home.name.split("-")[1])
        except ValueError:
            continue
        if owner != os.getpid() and not pid_alive(owner):
            Stack(home=home).down(say=lambda _msg: None)
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return _repo_root()


# Secrets found in the logs of session stacks, which are removed before the session ends.
_STACK_LEAKS: list[str] = []


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log(tmp_path_factory):
    """Set up first, torn down last: every log of the session (the servers', and those under each
    test's tmp_path) is searched for the credentials the tests used."""
    yield
    found = _STACK_LEAKS + leaks(tmp_path_factory.getbasetemp(), secrets())
    assert not found, "a credential was written to a log:\n" + "\n".join(found)


def _session_stack(name: str, influxdb: int):
    stack = Stack(name=name, ports=Ports.free(), mysql_time_zone="+03:00", influxdb=influxdb)
    try:
        yield stack
    finally:
        stack.down(say=lambda _msg: None)
        _STACK_LEAKS.extend(leaks(stack.home, secrets()))
        shutil.rmtree(stack.home, ignore_errors=True)


@pytest.fixture(scope="session")
def _stack():
    _reap_abandoned_stacks()
    yield from _session_stack(f"test-{os.getpid()}", influxdb=1)


@pytest.fixture(scope="session")
def _stack2(_stack):
    """InfluxDB 2.7 and a collector writing to it (MariaDB is the first stack's)."""
    yield from _session_stack(f"test-{os.getpid()}-influxdb2", influxdb=2)


@pytest.fixture(scope="session")
def influx_major(request) -> int:
    """1 unless a test is parametrized over it (indirectly)."""
    return getattr(request, "param", 1)


@pytest.fixture(scope="session")
def _influx_stack(request, influx_major, _stack):
    """The stack whose InfluxDB and collector this test runs on."""
    return _stack if influx_major == 1 else request.getfixturevalue("_stack2")


@pytest.fixture(scope="session")
def influxdb(_influx_stack):
    _influx_stack.influxdb.start(build=True)
    return _influx_stack.influxdb


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
def collector(_influx_stack, influxdb):
    _influx_stack.collector.start(build=True)
    return _influx_stack.collector


@pytest.fixture
def agent_env(collector):
    env = dict(os.environ)
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.otlp_http
    env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
    return env
