"""The local stack itself: servers come up on their ports, and stop means stopped."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from jobpulse import stack as stack_pkg
from tests.support.influx import ON_BOTH_INFLUXDB


def test_public_api_is_pinned():
    assert stack_pkg.__all__ == [
        "INFLUXDB_VARIABLE", "PORT_VARIABLES", "Collector", "Hub", "InfluxDB", "InfluxDB2", "InfluxServer", "MariaDB",
        "MissingProgramError", "NodeCollector", "PortBusyError", "Ports", "QueryError",
        "Stack", "StackError", "StartError", "collector_binary", "free_port", "http_status", "influxdb2_binary",
        "influxdb_major", "otlp_headers", "pid_alive", "repo_root", "run_dir",
    ]


@ON_BOTH_INFLUXDB
def test_influxdb_round_trip_and_restart(influxdb):
    influxdb.write("stack_check,host=a value=42i")
    influxdb.restart()
    body = influxdb.query('SELECT last("value") FROM "stack_check"')
    assert body["results"][0]["series"][0]["values"][0][1] == 42


@ON_BOTH_INFLUXDB
def test_influxdb_errors_are_plain(influxdb):
    try:
        influxdb.query("SELEKT nonsense")
    except stack_pkg.QueryError as exc:
        assert "InfluxQL error" in str(exc) or "answered 400" in str(exc)
    else:
        raise AssertionError("a broken query must raise QueryError")


def test_mariadb_serves_a_fresh_database_off_utc(mysql_url):
    engine = sa.create_engine(mysql_url)
    with engine.connect() as conn:
        local, utc = conn.execute(sa.text("SELECT NOW(), UTC_TIMESTAMP()")).one()
        tables = conn.execute(sa.text("SHOW TABLES")).all()
    engine.dispose()
    assert tables == []
    # The test server's session zone is +03:00 on purpose: NOW() is not UTC here.
    assert round((local - utc).total_seconds() / 3600) == 3


def test_collector_is_healthy_and_stops_by_pid(collector):
    from jobpulse.stack import http_status
    assert http_status(collector.health_url) == 200
    pid = collector.pid
    assert pid is not None and Path(f"/proc/{pid}/exe").resolve().name.startswith("otelcol")
    collector.stop()
    assert not collector.running and collector.pid is None
    assert http_status(collector.health_url) is None
    collector.start()
    assert http_status(collector.health_url) == 200


@pytest.mark.influxdb2
@pytest.mark.parametrize("influx_major", [2], indirect=True)
def test_influxdb2_runs_the_pinned_version_offline_with_one_least_privilege_token_per_client(influxdb):
    import httpx
    import psutil

    health = httpx.get(f"{influxdb.url}/health").json()
    assert health["status"] == "pass" and health["version"] == "2.7.12"
    server = psutil.Process(influxdb.pid)
    assert "--reporting-disabled" in server.cmdline()

    def ask(client: str | None, method: str, path: str, **kw) -> int:
        headers = {"Authorization": f"Token {influxdb.token(client)}"} if client else {}
        return httpx.request(method, f"{influxdb.url}{path}", headers=headers, **kw).status_code

    read = dict(data={"db": influxdb.database, "q": 'SELECT * FROM "token_check"'})
    write = dict(params={"db": influxdb.database}, content=b"token_check value=1i")
    assert ask(None, "POST", "/query", **read) == 401
    assert ask(None, "POST", "/write", **write) == 401
    assert [ask(c, "POST", "/write", **write) for c in ("collector", "hub", "grafana")] == [204, 204, 403]
    answers = {c: httpx.post(f"{influxdb.url}/query", headers={"Authorization": f"Token {influxdb.token(c)}"},
                             **read).json()["results"][0] for c in ("collector", "hub", "grafana")}
    assert "error" in answers["collector"]  # write only: the bucket is not even visible to it
    assert answers["hub"]["series"][0]["values"] == answers["grafana"]["series"][0]["values"]
    # a restart keeps the server, its DBRP mapping and every token
    tokens = {c: influxdb.token(c) for c in ("collector", "hub", "grafana")}
    influxdb.restart()
    assert {c: influxdb.token(c) for c in tokens} == tokens
    assert ask("hub", "POST", "/query", **read) == 200
