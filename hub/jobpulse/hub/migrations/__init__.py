"""Alembic migrations packaged with the hub: ``upgrade(database_url)`` creates or
updates the schema from any installed copy (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from jobpulse.hub.core.db import make_engine

__all__ = ["upgrade", "alembic_config", "revisions"]

_HERE = Path(__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    # Passed as an attribute, not an option: ConfigParser would choke on '%' in passwords.
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database at ``database_url`` to ``revision`` (default: newest)."""
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(database_url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def revisions(database_url: str) -> tuple[str | None, str]:
    """(the revision the database is at, or None for no schema; the newest revision). Reads only."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision(), head
    finally:
        engine.dispose()
