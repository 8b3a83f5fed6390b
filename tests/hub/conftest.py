"""Hub test fixtures: migrated databases (SQLite and the session MariaDB), a private
InfluxDB database per test, app clients and a line-protocol writer."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from jobpulse.hub import create_app
from jobpulse.hub.migrations import upgrade

from tests.support.line_protocol import JobPoint

from ._helpers import make_settings


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    url = f"sqlite:///{(tmp_path / 'hub.sqlite3').as_posix()}"
    upgrade(url)
    return url


@pytest.fixture
def hub_mysql_url(mysql_url) -> str:
    upgrade(mysql_url)
    return mysql_url


@pytest.fixture
def influx_db(influxdb):
    """A private InfluxDB database for one test (the server is shared by the session)."""
    name = f"hub_{uuid.uuid4().hex[:10]}"
    influxdb.create_database(name)
    yield name
    if influxdb.running:
        influxdb.drop_database(name)


@pytest.fixture(params=["sqlite", "mysql", "mysql+pymysql"])
def db_url(request) -> str:
    """A migrated database of each kind the hub supports: the embedded SQLite default and the
    session's real MariaDB, through the driver a ``mysql://`` URL gets (mysqlclient, which
    set-up installs) and through PyMySQL, the pure-Python one a plain ``jobpulse[hub]`` has."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    url = request.getfixturevalue("hub_mysql_url")
    return url.replace("mysql://", f"{request.param}://", 1)


@pytest.fixture
def client_factory():
    clients = []

    def make(database_url: str, **overrides) -> TestClient:
        c = TestClient(create_app(make_settings(database_url, **overrides)),
                       raise_server_exceptions=False)
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(client_factory, sqlite_url) -> TestClient:
    return client_factory(sqlite_url)


@pytest.fixture
def api(client_factory, db_url) -> TestClient:
    """A hub client on each database kind; ``api.db_url`` names its database."""
    c = client_factory(db_url)
    c.db_url = db_url
    return c


@pytest.fixture
def write_points(influxdb, influx_db):
    def write(*points: JobPoint) -> None:
        lines = [line for p in points for line in p.lines()]
        influxdb.write("\n".join(lines), db=influx_db)

    return write
