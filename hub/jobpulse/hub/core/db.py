"""Engines. One engine per app (and one per reconciler), with pre-ping so a
MySQL restart costs one failed checkout, not a stream of broken-pipe errors."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

from jobpulse.hub import errors

# SQLite has no row locks: the reconciler, the legacy endpoint and the webhook all
# read-modify-write job rows, so in one process they take turns on this lock.
_SQLITE_WRITE_LOCK = threading.RLock()

DB_ERRORS = (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    parsed = make_url(url)
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
        query = dict(parsed.query)
        query.setdefault("charset", "utf8mb4")
        parsed = parsed.set(query=query)
        return create_engine(
            parsed,
            pool_pre_ping=True,
            pool_recycle=1800,
            pool_size=pool_size,
            max_overflow=2 * pool_size,
            pool_timeout=10,
            # A stopped server must fail a request quickly, not hang it.
            connect_args={"connect_timeout": 5, "read_timeout": 30, "write_timeout": 30},
        )
    return create_engine(parsed, pool_pre_ping=True)


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
