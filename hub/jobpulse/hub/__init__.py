"""jobpulse hub: job state in MySQL, reconciled from InfluxDB, served to the GUI."""

from jobpulse.hub.core.config import Settings
from jobpulse.hub.errors import (
    AuthError,
    Conflict,
    DatabaseUnavailable,
    HubError,
    InfluxUnavailable,
    InvalidInput,
    NotFound,
    Unavailable,
    WritesDisabled,
)
from jobpulse.hub.main import create_app, run

__all__ = [
    "AuthError",
    "Conflict",
    "DatabaseUnavailable",
    "HubError",
    "InfluxUnavailable",
    "InvalidInput",
    "NotFound",
    "Settings",
    "Unavailable",
    "WritesDisabled",
    "create_app",
    "run",
]
