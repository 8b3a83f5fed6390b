"""A small InfluxDB /query client (InfluxQL over HTTP; 1.x, or 2.x through a DBRP mapping). The transport is injectable
(``httpx.MockTransport`` in unit tests, the real server everywhere else).

Exceptions::

    InfluxError
    ├── InfluxConnectionError   server unreachable / timed out
    ├── InfluxResponseError     HTTP error status or a body that is not the /query JSON
    └── InfluxQueryError        the server rejected a statement
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from jobpulse.hub.core.config import Settings


class InfluxError(Exception):
    pass


class InfluxConnectionError(InfluxError):
    pass


class InfluxTimeoutError(InfluxConnectionError):
    """InfluxDB took the request but did not answer within the timeout (an overloaded server or
    too wide a query), as against one that cannot be reached."""


class InfluxResponseError(InfluxError):
    pass


class InfluxQueryError(InfluxError):
    pass


class InfluxClient:
    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {}
        auth = None
        if token:
            headers["Authorization"] = f"Token {token}"
        elif username:
            auth = httpx.BasicAuth(username, password or "")
        self.database = database
        self._client = httpx.Client(
            base_url=url.rstrip("/"),
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, transport: httpx.BaseTransport | None = None) -> InfluxClient:
        return cls(
            settings.influx_url,
            settings.influx_db,
            username=settings.influx_username,
            password=settings.influx_password.get_secret_value() if settings.influx_password else None,
            token=settings.influx_token.get_secret_value() if settings.influx_token else None,
            timeout=settings.influx_timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def ping(self) -> None:
        try:
            resp = self._client.get("/ping")
        except httpx.HTTPError as err:
            raise InfluxConnectionError(f"{type(err).__name__}: {err}") from err
        if resp.status_code >= 300:
            raise InfluxResponseError(f"/ping answered HTTP {resp.status_code}")

    def write(self, lines: list[str]) -> None:
        """Line protocol (nanosecond timestamps) into the database through /write (1.x API, also
        served by 2.x for a DBRP-mapped bucket)."""
        try:
            resp = self._client.post("/write", params={"db": self.database, "precision": "ns"},
                                     content="\n".join(lines).encode())
        except httpx.HTTPError as err:
            raise InfluxConnectionError(f"{type(err).__name__}: {err}") from err
        if resp.status_code >= 300:
            try:
                # 1.x says {"error": ...}; 2.x {"code": ..., "message": ...} (a 422 for points beyond retention)
                body = resp.json()
                message = body.get("error") or body.get("message") or f"HTTP {resp.status_code}"
            except (ValueError, AttributeError):
                message = f"HTTP {resp.status_code}"
            # 1.x: "points beyond retention policy"; 2.x: "points outside retention policy of duration ..."
            if "beyond retention policy" in message or "outside retention policy" in message:
                return  # older than the database keeps: history InfluxDB declines, not an outage to retry
            raise InfluxResponseError(f"write refused: {message}")

    def query(self, q: str, *, epoch: str = "u") -> Mapping[str, Any]:
        """Run ``q`` (one or more ``;``-separated statements) and return the parsed JSON.
        Raises InfluxQueryError if any statement failed."""
        try:
            resp = self._client.post(
                "/query", data={"db": self.database, "q": q, "epoch": epoch}
            )
        except httpx.ReadTimeout as err:
            raise InfluxTimeoutError(f"no answer within {self._client.timeout.read:g} s: {err}") from err
        except httpx.HTTPError as err:
            raise InfluxConnectionError(f"{type(err).__name__}: {err}") from err
        try:
            body = resp.json()
        except ValueError as err:
            raise InfluxResponseError(f"HTTP {resp.status_code}: body is not JSON") from err
        if not isinstance(body, dict):
            raise InfluxResponseError(f"HTTP {resp.status_code}: unexpected body")
        if resp.status_code >= 400 or body.get("error"):
            message = body.get("error") or body.get("message") or f"HTTP {resp.status_code}"
            if resp.status_code == 400:
                raise InfluxQueryError(message)
            raise InfluxResponseError(message)
        for result in body.get("results") or ():
            if isinstance(result, dict) and result.get("error"):
                if "database not found" in str(result["error"]):
                    # No point written yet: an empty database, not a broken query.
                    return {"results": []}
                raise InfluxQueryError(str(result["error"]))
        return body
