"""The local stack itself: servers come up on their ports, and stop means stopped."""

from __future__ import annotations

import sqlalchemy as sa

from jobpulse import stack as stack_pkg


def test_public_api_is_pinned():
    assert stack_pkg.__all__ == [
        "PORT_VARIABLES", "Collector", "Hub", "InfluxDB", "MariaDB", "MissingProgramError", "NodeCollector",
        "PortBusyError", "Ports", "QueryError",
        "Stack", "StackError", "StartError", "collector_binary", "free_port", "http_status", "pid_alive", "repo_root", "run_dir",
    ]


def test_influxdb_round_trip_and_restart(influxdb):
    influxdb.write("stack_check,host=a value=42i")
    influxdb.restart()
    body = influxdb.query('SELECT last("value") FROM "stack_check"')
    assert body["results"][0]["series"][0]["values"][0][1] == 42


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
    collector.stop()
    assert not collector.running
    assert http_status(collector.health_url) is None
    collector.start()
    assert http_status(collector.health_url) == 200
