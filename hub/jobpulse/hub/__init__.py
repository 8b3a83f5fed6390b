"""jobpulse hub: job state in MySQL, reconciled from InfluxDB, served to the GUI.

Installed with ``pip install 'jobpulse[hub]'``; the agent's OpenTelemetry packages are not
needed here (the metric contract comes from the stdlib-only ``jobpulse.semconv``).
"""

try:
    import alembic  # noqa: F401
    import fastapi  # noqa: F401
    import httpx  # noqa: F401
    import pydantic_settings  # noqa: F401
    import sqlalchemy  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as _missing:
    raise ImportError(f"jobpulse.hub needs its extra ({_missing.name} is missing): pip install 'jobpulse[hub]'") from None

from jobpulse.hub.core.config import Settings
from jobpulse.hub.errors import (
    AuthError,
    Conflict,
    DatabaseUnavailable,
    Forbidden,
    HubError,
    InfluxUnavailable,
    InvalidInput,
    NotFound,
    TooManyFailures,
    Unavailable,
    WritesDisabled,
)
from jobpulse.hub.main import create_app, main

__all__ = [
    "AuthError",
    "Conflict",
    "DatabaseUnavailable",
    "Forbidden",
    "HubError",
    "InfluxUnavailable",
    "InvalidInput",
    "NotFound",
    "Settings",
    "TooManyFailures",
    "Unavailable",
    "WritesDisabled",
    "create_app",
    "main",
]
