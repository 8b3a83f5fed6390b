"""Leader election: exactly one reconciler writes at a time.

MySQL: ``GET_LOCK(name, 0)`` held on a dedicated connection. The server frees the lock
the moment that connection ends, so a replica that dies or loses MySQL hands over to
the next one polling ``acquire()`` (every cycle). SQLite: one process, so a
process-local lock per database file.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Connection, Engine, text

logger = logging.getLogger(__name__)

LOCK_NAME = "jobpulse-reconciler"


class MySQLLeaderLock:
    def __init__(self, engine: Engine, name: str = LOCK_NAME) -> None:
        self._engine = engine
        self._name = name
        self._conn: Connection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def acquire(self) -> bool:
        """True while this instance is the leader; checks (or tries to take) the lock."""
        if self._conn is not None:
            try:
                owner = self._conn.execute(
                    text("SELECT IS_USED_LOCK(:n) = CONNECTION_ID()"), {"n": self._name}
                ).scalar()
                if owner == 1:
                    return True
                logger.warning("reconciler lock %r lost", self._name)
            except Exception as err:  # the connection died: the server freed the lock
                logger.warning("reconciler lock connection lost: %s", err)
            self._drop()
        conn = self._engine.connect()
        try:
            got = conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": self._name}).scalar()
            # Autocommit the SELECT so no transaction pins a snapshot on this connection.
            conn.commit()
        except Exception:
            conn.close()
            raise
        if got == 1:
            self._conn = conn
            return True
        conn.close()
        return False

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # noqa: BLE001 - already broken, nothing to release
                pass

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": self._name})
            conn.commit()
        except Exception as err:  # noqa: BLE001 - closing the connection frees it anyway
            logger.info("release of reconciler lock failed (%s); closing its connection", err)
        finally:
            try:
                conn.invalidate()  # never return a lock-holding connection to the pool
                conn.close()
            except Exception:  # noqa: BLE001
                pass


# Guards _LOCAL_HOLDERS: several reconcilers in one process (tests) race for the entry.
_LOCAL_GUARD = threading.Lock()
_LOCAL_HOLDERS: dict[str, object] = {}


class LocalLeaderLock:
    def __init__(self, key: str) -> None:
        self._key = key
        self._token = object()

    @property
    def held(self) -> bool:
        with _LOCAL_GUARD:
            return _LOCAL_HOLDERS.get(self._key) is self._token

    def acquire(self) -> bool:
        with _LOCAL_GUARD:
            holder = _LOCAL_HOLDERS.setdefault(self._key, self._token)
            return holder is self._token

    def release(self) -> None:
        with _LOCAL_GUARD:
            if _LOCAL_HOLDERS.get(self._key) is self._token:
                del _LOCAL_HOLDERS[self._key]


def leader_lock(engine: Engine):
    if engine.dialect.name in ("mysql", "mariadb"):
        return MySQLLeaderLock(engine)
    return LocalLeaderLock(str(engine.url))
