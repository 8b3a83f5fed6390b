"""Which MySQL driver a database URL gets (jobpulse.hub.core.db.resolve_url): mysqlclient for a
``mysql://`` URL when it is installed (set-up installs it), PyMySQL when it is not, and always
the driver a URL names."""

from __future__ import annotations

import sys
import time

import pytest

from jobpulse.hub.core.db import make_engine, resolve_url


def test_a_url_without_a_driver_gets_mysqlclient_when_installed():
    import MySQLdb  # noqa: F401  (set-up installs jobpulse[mysqlclient]: a missing one is a set-up defect)

    assert resolve_url("mysql://u:p@db:3306/jobpulse").drivername == "mysql+mysqldb"
    assert resolve_url("mariadb://u:p@db/jobpulse").drivername == "mariadb+mysqldb"


def test_without_mysqlclient_pymysql_serves(monkeypatch):
    monkeypatch.setitem(sys.modules, "MySQLdb", None)  # what `import MySQLdb` meets when absent
    assert resolve_url("mysql://u:p@db/jobpulse").drivername == "mysql+pymysql"
    engine = make_engine("mysql://u:p@127.0.0.1:1/jobpulse")
    assert engine.dialect.driver == "pymysql"
    engine.dispose()


@pytest.mark.parametrize("url", ["mysql+pymysql://u:p@db/j", "mysql+mysqldb://u:p@db/j", "sqlite:///x.db",
                                 "sqlite://"])
def test_a_named_driver_or_another_database_is_kept(url):
    assert resolve_url(url).render_as_string(hide_password=False) == url


def test_both_drivers_read_the_same_rows(hub_mysql_url):
    from sqlalchemy import text

    rows = {}
    for driver in ("mysqldb", "pymysql"):
        engine = make_engine(hub_mysql_url.replace("mysql://", f"mysql+{driver}://", 1))
        assert engine.dialect.driver == driver
        with engine.connect() as conn:
            rows[driver] = conn.execute(text(
                "SELECT CAST('2026-12-04 10:00:00.123456' AS DATETIME(6)), CAST(12.5 AS DECIMAL(5,2)),"
                " 9007199254740993, 'ü\\n', NULL")).one()
        engine.dispose()
    assert rows["mysqldb"] == rows["pymysql"]


def test_the_readers_connection_dropped_by_the_server_is_replaced_at_checkout(hub_mysql_url):
    """The list's reader pings only a connection idle for over READER_PING_AFTER_SECONDS: one the
    server dropped (a restart, wait_timeout, a KILL) meanwhile is replaced, not handed out."""
    from sqlalchemy import text

    from jobpulse.hub.core.db import READER_PING_AFTER_SECONDS, make_reader_engine

    reader, admin = make_reader_engine(hub_mysql_url, pool_size=1), make_engine(hub_mysql_url, pool_size=1)
    try:
        with reader.connect() as conn:
            victim = conn.execute(text("SELECT CONNECTION_ID()")).scalar_one()
        with admin.connect() as conn:
            conn.execute(text(f"KILL {int(victim)}"))
        time.sleep(READER_PING_AFTER_SECONDS + 0.2)
        with reader.connect() as conn:
            assert conn.execute(text("SELECT CONNECTION_ID()")).scalar_one() != victim
        assert reader.pool.checkedin() == 1
    finally:
        reader.dispose()
        admin.dispose()


def test_sqlite_has_no_reader_engine(sqlite_url):
    from jobpulse.hub.core.db import make_reader_engine

    assert make_reader_engine(sqlite_url) is None


@pytest.mark.parametrize("driver", ["mysqldb", "pymysql"])
def test_a_read_through_the_reader_costs_the_server_its_statement_alone(hub_mysql_url, driver):
    """No ROLLBACK after each read (SQLAlchemy ends even an autocommit connection's implicit
    transaction with one, a round trip per page of the list) and no ping between busy reads."""
    from sqlalchemy import text

    from jobpulse.hub.core.db import make_reader_engine

    reader = make_reader_engine(hub_mysql_url.replace("mysql://", f"mysql+{driver}://", 1), pool_size=1)
    status = text("SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = :n")
    try:
        with reader.connect() as conn:
            before = {n: int(conn.execute(status, {"n": n}).scalar_one()) for n in ("COM_ROLLBACK", "QUESTIONS")}
        for _ in range(5):
            with reader.connect() as conn:
                assert conn.execute(text("SELECT 1")).scalar_one() == 1
        with reader.connect() as conn:
            after = {n: int(conn.execute(status, {"n": n}).scalar_one()) for n in ("COM_ROLLBACK", "QUESTIONS")}
    finally:
        reader.dispose()
    assert after["COM_ROLLBACK"] == before["COM_ROLLBACK"], "a rollback per read"
    # the five reads, and the two status queries after the one that read QUESTIONS first
    assert after["QUESTIONS"] - before["QUESTIONS"] == 5 + 2, "the reads and status queries only"
