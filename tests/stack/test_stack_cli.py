"""`jobpulse-stack` as an operator meets it: status leaves no trace, a busy port is named, a
changed port variable applies or says why not, a running part is "already running"."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from jobpulse.stack import INFLUXDB_VARIABLE, PORT_VARIABLES, free_port


def stack_cli(*args: str, run_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not (k.startswith("JOBPULSE_") and k.endswith("_PORT"))}
    return subprocess.run([sys.executable, "-m", "jobpulse.stack.cli", *args],
                          env=clean | {"JOBPULSE_RUN_DIR": str(run_dir)} | (env or {}),
                          capture_output=True, text=True, timeout=300)


def test_help_lists_every_command_option_and_port_variable(tmp_path):
    p = stack_cli("--help", run_dir=tmp_path / "run")
    assert p.returncode == 0
    for word in ("up", "down", "status", "env", "demo", "--name", "--no-hub", INFLUXDB_VARIABLE,
                 *(v for v, _ in PORT_VARIABLES.values())):
        assert word in p.stdout, word
    assert not (tmp_path / "run").exists()


def test_status_writes_nothing(tmp_path):
    p = stack_cli("status", "--name", "probe", run_dir=tmp_path / "run", env={"JOBPULSE_HUB_PORT": "18123"})
    assert p.returncode == 0, p.stderr
    assert "stopped" in p.stdout and "127.0.0.1:18123" in p.stdout
    assert not (tmp_path / "run").exists()


def test_a_bad_port_variable_is_one_plain_line(tmp_path):
    p = stack_cli("status", run_dir=tmp_path / "run", env={"JOBPULSE_HUB_PORT": "eighty"})
    assert p.returncode == 1
    assert p.stderr.strip() == "jobpulse-stack: JOBPULSE_HUB_PORT='eighty' is not a port number (1-65535)"


@pytest.mark.e2e
def test_up_names_the_busy_port_says_already_running_and_applies_changed_ports(tmp_path):
    # InfluxDB 1.x: the version with an RPC port.
    ports = {var: str(free_port()) for var, _ in PORT_VARIABLES.values()} | {INFLUXDB_VARIABLE: "1"}
    run_dir = tmp_path / "run"
    # Something else holds InfluxDB's RPC port (8088 by default: the case that once named 18086).
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    busy = squatter.getsockname()[1]
    try:
        p = stack_cli("up", "--name", "side", "--no-hub", run_dir=run_dir,
                      env=ports | {"JOBPULSE_INFLUX_RPC_PORT": str(busy)})
        assert p.returncode == 1
        assert p.stderr.strip() == (f"jobpulse-stack: cannot start InfluxDB: port {busy} (JOBPULSE_INFLUX_RPC_PORT) "
                                    "is already in use by another program; set JOBPULSE_INFLUX_RPC_PORT to a free "
                                    "port (docs/stack.md) or stop that program")
    finally:
        squatter.close()
    try:
        up = stack_cli("up", "--name", "side", "--no-hub", run_dir=run_dir, env=ports)
        assert up.returncode == 0, up.stdout + up.stderr
        again = stack_cli("up", "--name", "side", "--no-hub", run_dir=run_dir, env=ports)
        assert again.returncode == 0, again.stdout + again.stderr
        for part in ("InfluxDB", "MariaDB", "the collector", "the node collector"):
            assert f"{part} already running" in again.stdout, again.stdout
        assert "starting" not in again.stdout
        # a new port for a running part is not applied, and says so; for a stopped part it applies
        moved = str(free_port())
        status = stack_cli("status", "--name", "side", run_dir=run_dir,
                           env=ports | {"JOBPULSE_INFLUX_PORT": moved, "JOBPULSE_HUB_PORT": moved})
        assert (f"JOBPULSE_INFLUX_PORT={moved} is not applied: InfluxDB is running on port "
                f"{ports['JOBPULSE_INFLUX_PORT']}") in status.stderr
        assert "JOBPULSE_HUB_PORT" not in status.stderr
        assert f"Hub         stopped  http://127.0.0.1:{moved}" in status.stdout
    finally:
        down = stack_cli("down", "--name", "side", run_dir=run_dir, env=ports)
        assert down.returncode == 0, down.stderr


def test_a_bad_influxdb_version_is_one_plain_line(tmp_path):
    p = stack_cli("status", run_dir=tmp_path / "run", env={INFLUXDB_VARIABLE: "3"})
    assert p.returncode == 1
    assert p.stderr.strip() == ("jobpulse-stack: JOBPULSE_INFLUXDB='3': choose 1 (InfluxDB 1.x) "
                                "or 2 (InfluxDB 2.7)")


@pytest.mark.e2e
@pytest.mark.influxdb2
def test_the_influxdb_version_is_kept_by_up_and_down_stops_the_one_running(tmp_path):
    ports = {var: str(free_port()) for var, _ in PORT_VARIABLES.values()}
    run_dir = tmp_path / "run"
    clean = {INFLUXDB_VARIABLE: ""}  # the default: 2
    try:
        up = stack_cli("up", "--name", "v2", "--no-hub", run_dir=run_dir, env=ports | clean)
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"InfluxDB 2.7.12 running  http://127.0.0.1:{ports['JOBPULSE_INFLUX_PORT']}" in up.stdout
        # asking for 1.x while 2.7 runs changes nothing, and says so
        status = stack_cli("status", "--name", "v2", run_dir=run_dir, env=ports | {INFLUXDB_VARIABLE: "1"})
        assert "JOBPULSE_INFLUXDB=1 is not applied: InfluxDB 2.x is running" in status.stderr
        assert "InfluxDB 2.7.12 running" in status.stdout
        env = stack_cli("env", "--name", "v2", run_dir=run_dir, env=ports | clean)
        assert "export JOBPULSE_INFLUX_TOKEN=" in env.stdout, env.stdout + env.stderr
        # an agent pointed by these exports carries the collector's token, or the collector refuses it
        assert "export OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20" in env.stdout
    finally:
        down = stack_cli("down", "--name", "v2", run_dir=run_dir, env=ports | {INFLUXDB_VARIABLE: "1"})
        assert down.returncode == 0, down.stderr
    assert "stopping InfluxDB" in down.stdout
    after = stack_cli("status", "--name", "v2", run_dir=run_dir, env=ports | {INFLUXDB_VARIABLE: "1"})
    # stopped, the asked-for version applies
    assert "InfluxDB    stopped" in after.stdout and not after.stderr.strip()
