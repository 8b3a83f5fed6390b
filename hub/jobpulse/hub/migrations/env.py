"""Alembic environment: runs online against the connection given by ``upgrade()``."""

from __future__ import annotations

from alembic import context

from jobpulse.hub.core.db import make_engine
from jobpulse.hub.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # e.g. the alembic CLI pointed at this folder
    engine = make_engine(config.attributes["database_url"], pool_size=1)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
