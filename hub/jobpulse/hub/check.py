"""``jobpulse-hub --check``: the settings, the database and InfluxDB as the hub would use them,
one line each, without serving, migrating or creating anything."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from jobpulse.hub.core.config import Settings
from jobpulse.hub.core.db import DB_ERRORS, resolve_url
from jobpulse.hub.influx import InfluxClient, InfluxError
from jobpulse.hub.migrations import revisions


def _database(settings: Settings) -> tuple[bool, str]:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.exists():
            # Connecting would create the file: say what the first start will do instead.
            parent = path.parent if path.parent.exists() else None
            if parent is None:
                return False, f"{path.parent} does not exist (the SQLite file cannot be created)"
            return True, f"{path} does not exist yet: created and migrated at the first start"
    try:
        current, head = revisions(settings.database_url)
    except DB_ERRORS as err:
        return False, f"unreachable: {type(err).__name__}: {str(err).splitlines()[0][:200]}"
    if current is None:
        return True, f"reachable, no schema yet: migrated to {head} at the first start"
    if current == head:
        return True, f"reachable, schema at {current} (current)"
    return True, f"reachable, schema at {current}: migrated to {head} at the next start"


def _influx(settings: Settings) -> tuple[bool, str]:
    client = InfluxClient.from_settings(settings)
    try:
        client.ping()
        client.query("SHOW MEASUREMENTS LIMIT 1")
    except InfluxError as err:
        return False, f"unavailable: {str(err)[:200]}"
    finally:
        client.close()
    return True, f"reachable, database {settings.influx_db!r} readable"


def check(settings: Settings) -> tuple[bool, list[str]]:
    """(everything the hub needs is reachable, the report lines)."""
    db_ok, db = _database(settings)
    influx_ok, influx = _influx(settings)
    writes = "enabled" if settings.writes_configured else "disabled: JOBPULSE_API_TOKEN is not set"
    webhook = ("enabled" if settings.webhook_user and settings.webhook_password
               else "disabled: JOBPULSE_WEBHOOK_USER / JOBPULSE_WEBHOOK_PASSWORD are not set")
    trusted = settings.legacy_trusted_networks.strip() or "none"
    lines = [
        f"settings: ok (serving on {settings.host}:{settings.port})",
        f"database: {db} [{resolve_url(settings.database_url).render_as_string(hide_password=True)}]",
        f"influxdb: {influx} [{settings.influx_url}]",
        f"writes: {writes}",
        f"webhook: {webhook}",
        f"legacy senders without a token: {trusted}",
    ]
    return db_ok and influx_ok, lines
