"""The hub's one exception tree, mapped to HTTP responses at the API boundary.

Library errors (SQLAlchemy, httpx, the InfluxDB client) are translated into these with
``raise ... from`` where they cross into the API, so a client only ever sees the
``status_code`` and ``detail`` below, never a stack trace::

    HubError                      500  anything unexpected the hub chose to report
    ├── InvalidInput              400  a body or parameter the hub cannot use
    ├── AuthError                 401  missing or wrong credential
    ├── Forbidden                 403  a credential without the scope (a read token on a write)
    ├── TooManyFailures           429  too many failed authentications from this address
    ├── WritesDisabled            503  the credential a write needs is not configured
    ├── NotFound                  404  unknown job
    ├── Conflict                  409  job id already registered
    └── Unavailable               503  a backing service is down
        ├── DatabaseUnavailable        MySQL/SQLite unreachable
        └── InfluxUnavailable          InfluxDB unreachable or failing
"""

from __future__ import annotations


class HubError(Exception):
    status_code = 500
    prefix = ""

    def __init__(self, detail: str = "internal error") -> None:
        super().__init__(detail)
        self.detail = f"{self.prefix}{detail}"


class InvalidInput(HubError):
    status_code = 400


class AuthError(HubError):
    status_code = 401


class Forbidden(HubError):
    status_code = 403


class TooManyFailures(HubError):
    status_code = 429

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class WritesDisabled(HubError):
    status_code = 503


class NotFound(HubError):
    status_code = 404


class Conflict(HubError):
    status_code = 409


class Unavailable(HubError):
    status_code = 503


class DatabaseUnavailable(Unavailable):
    prefix = "database unavailable: "


class InfluxUnavailable(Unavailable):
    prefix = "influxdb unavailable: "
