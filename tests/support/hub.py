"""A real `jobpulse-hub` process for e2e tests, on a migrated database and the session's InfluxDB."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from jobpulse.hub.migrations import upgrade
from jobpulse.stack import Hub, free_port


@contextlib.contextmanager
def hub_process(home: Path, database_url: str, influxdb, token: str, **settings: str) -> Iterator[Hub]:
    """Started with a fast reconcile interval; ``settings`` are further JOBPULSE_* values by name."""
    upgrade(database_url)
    hub = Hub(home, free_port())
    env = {"JOBPULSE_DATABASE_URL": database_url, **influxdb.hub_environment(), "JOBPULSE_API_TOKEN": token,
           "JOBPULSE_RECONCILE_INTERVAL": "0.5"}
    env.update({f"JOBPULSE_{name.upper()}": value for name, value in settings.items()})
    hub.start(env)
    try:
        yield hub
    finally:
        hub.stop()
