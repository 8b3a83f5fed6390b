"""Engines. One engine per app (and one per reconciler), with pre-ping so a
MySQL restart costs one failed checkout, not a stream of broken-pipe errors."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url

from jobpulse.hub import errors

# SQLite has no row locks: the reconciler, the legacy endpoint and the webhook all
# read-modify-write job rows, so in one process they take turns on this lock.
_SQLITE_WRITE_LOCK = threading.RLock()

DB_ERRORS = (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError)


def mysql_driver() -> str:
    """The driver a ``mysql://`` URL names no driver for: mysqlclient (``jobpulse[mysqlclient]``)
    when it is installed, else PyMySQL. mysqlclient decodes rows in C and lets go of the GIL
    while it waits on the server: a page of the job list costs half the CPU it costs with
    PyMySQL (bench/bench_hub.py), and a reconcile cycle's reads and upserts less too."""
    try:
        import MySQLdb  # noqa: F401  (only whether it imports)
    except ImportError:
        return "pymysql"
    return "mysqldb"


def resolve_url(url: str | URL) -> URL:
    """``url`` with a MySQL driver chosen when it names none; a named driver is kept."""
    parsed = make_url(url)
    if parsed.get_backend_name() in ("mysql", "mariadb") and "+" not in parsed.drivername:
        parsed = parsed.set(drivername=f"{parsed.get_backend_name()}+{mysql_driver()}")
    return parsed


def _mysql_pool(pool_size: int) -> dict:
    return dict(pool_recycle=1800, pool_size=pool_size, max_overflow=2 * pool_size, pool_timeout=10,
                # A stopped server must fail a request quickly, not hang it.
                connect_args={"connect_timeout": 5, "read_timeout": 30, "write_timeout": 30})


def _with_charset(url: URL) -> URL:
    return url.set(query={"charset": "utf8mb4", **url.query})


def make_engine(url: str | URL, *, pool_size: int = 10) -> Engine:
    parsed = resolve_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed, connect_args={"check_same_thread": False, "timeout": 30}, pool_pre_ping=True
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        return create_engine(_with_charset(parsed), pool_pre_ping=True, **_mysql_pool(pool_size))
    return create_engine(parsed, pool_pre_ping=True)


# A reader's connection used within this many seconds is not pinged at checkout: a server that
# restarts takes longer than that, so every connection idle across a restart is still tested.
READER_PING_AFTER_SECONDS = 1.0


def make_reader_engine(url: str | URL, *, pool_size: int = 4) -> Engine | None:
    """An engine for single-statement reads, such as a page of the job list, on MySQL: autocommit
    (no transaction to roll back when a connection goes back to the pool) and a ping only for
    a connection idle longer than READER_PING_AFTER_SECONDS. Each request then costs its query's
    round trip alone instead of three (ping, query, rollback): a page costs the hub 1.9 ms
    instead of 2.7 ms, the server 1.5 ms instead of 2.1 ms (bench/bench_hub.py). None for
    SQLite, whose reads cost no round trip: the app's engine serves them."""
    parsed = resolve_url(url)
    if parsed.get_backend_name() not in ("mysql", "mariadb"):
        return None
    # skip_autocommit_rollback: SQLAlchemy still ends each connection's implicit transaction with
    # the DBAPI's rollback(), which both drivers send to the server as a round trip of its own.
    engine = create_engine(_with_charset(parsed), isolation_level="AUTOCOMMIT", pool_reset_on_return=None,
                           pool_pre_ping=False, skip_autocommit_rollback=True, **_mysql_pool(pool_size))

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn, record):
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy):
        returned = record.info.get("returned_at")
        if returned is not None and time.monotonic() - returned <= READER_PING_AFTER_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as err:
            # The pool's documented answer: drop this connection and check out a fresh one.
            raise exc.DisconnectionError(str(err)) from err

    return engine


@contextlib.contextmanager
def write_guard(engine: Engine) -> Iterator[None]:
    """Serialize read-modify-write sections where the database cannot (SQLite)."""
    if engine.dialect.name == "sqlite":
        with _SQLITE_WRITE_LOCK:
            yield
    else:
        yield


def database_unavailable(err: BaseException) -> errors.DatabaseUnavailable:
    """A client-safe description of a driver error (no SQL, no parameters)."""
    orig = getattr(err, "orig", None) or err
    text = str(orig).splitlines()[0] if str(orig) else type(orig).__name__
    return errors.DatabaseUnavailable(text[:200])
