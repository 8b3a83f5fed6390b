"""A small durable queue of encoded OTLP export requests (SQLite, one file).

Rows hold the exact bytes of an ``ExportMetricsServiceRequest`` (the OTLP
protobuf encoding), the endpoint they were meant for, and are replayed oldest
first. The file is bounded: past ``max_batches`` rows the oldest are dropped
and the count is logged. A damaged database never stops a job: the spool then
disables itself with one log line.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_logger = logging.getLogger(__name__)

ENV_SPOOL_DIR = "JOBPULSE_SPOOL_DIR"
SPOOL_FILE = "spool.db"
DEFAULT_MAX_BATCHES = 5000


def default_spool_path() -> Path:
    """$JOBPULSE_SPOOL_DIR, else $XDG_STATE_HOME/jobpulse, else ~/.local/state/jobpulse."""
    env = os.environ.get(ENV_SPOOL_DIR)
    if env:
        return Path(env) / SPOOL_FILE
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "jobpulse" / SPOOL_FILE


@dataclass(frozen=True)
class SpooledBatch:
    row_id: int
    created: float
    endpoint: str
    body: bytes


class Spool:
    """Opened on first need: a run whose batches all arrive, with no file left by an earlier
    run, never touches the disk (``make bench-agent``: part of a short job's fixed cost)."""

    def __init__(self, path: str | os.PathLike | None = None, max_batches: int = DEFAULT_MAX_BATCHES) -> None:
        self.path = Path(path) if path is not None else default_spool_path()
        self.max_batches = max_batches
        # sqlite3 connections are not safe to share across threads without one: the reader's
        # export thread and the final flush both write here. It also guards the lazy open.
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._broken = False
        self._closed = False

    def _open(self, create: bool) -> sqlite3.Connection | None:
        """The connection (caller holds the lock); None when broken, closed, or ``create`` is
        False and there is no file: then there is nothing to read either."""
        if self._db is not None or self._broken or self._closed:
            return self._db
        if not create and not self.path.exists():
            return None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS batches ("
                " id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL,"
                " endpoint TEXT NOT NULL, body BLOB NOT NULL)"
            )
            self._db = db
        except (sqlite3.Error, OSError) as exc:
            self._broken = True
            _logger.warning("offline spool %s unusable (%s): batches that fail to export will be lost", self.path, exc)
        return self._db

    @property
    def enabled(self) -> bool:
        with self._lock:
            return self._open(create=True) is not None

    def _run(self, sql: str, args: tuple = (), *, create: bool = False) -> list:
        try:
            with self._lock:
                db = self._open(create)
                if db is None:
                    return []
                return db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            _logger.warning("offline spool %s: %s", self.path, exc)
            return []

    def put(self, endpoint: str, body: bytes) -> int | None:
        rows = self._run(
            "INSERT INTO batches (created, endpoint, body) VALUES (?, ?, ?) RETURNING id",
            (time.time(), endpoint, sqlite3.Binary(body)), create=True,
        )
        self._enforce_bound()
        return rows[0][0] if rows else None

    def _enforce_bound(self) -> None:
        rows = self._run("SELECT COUNT(*) FROM batches")
        excess = (rows[0][0] - self.max_batches) if rows else 0
        if excess > 0:
            self._run(
                "DELETE FROM batches WHERE id IN (SELECT id FROM batches ORDER BY id LIMIT ?)", (excess,)
            )
            _logger.warning("offline spool full (%d batches): dropped the %d oldest", self.max_batches, excess)

    def delete(self, row_id: int | None) -> None:
        if row_id is not None:
            self._run("DELETE FROM batches WHERE id = ?", (row_id,))

    def oldest(self, endpoint: str, limit: int = 100) -> list[SpooledBatch]:
        rows = self._run(
            "SELECT id, created, endpoint, body FROM batches WHERE endpoint = ? ORDER BY id LIMIT ?",
            (endpoint, limit),
        )
        out = []
        for row_id, created, ep, body in rows:
            if not isinstance(body, (bytes, bytearray, memoryview)):
                _logger.warning("offline spool: skipped damaged batch %s (not binary)", row_id)
                self.delete(row_id)
                continue
            out.append(SpooledBatch(row_id, float(created or 0), ep, bytes(body)))
        return out

    def count(self) -> int:
        rows = self._run("SELECT COUNT(*) FROM batches")
        return rows[0][0] if rows else 0

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._db is not None:
                self._db.close()
                self._db = None
