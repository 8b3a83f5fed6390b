"""Who may call what: every route declares one ``Scope`` (the dependency aliases at the end),
and ``Access`` decides for a request.

- READ: a read or write token (``Authorization: Bearer``) or a browser session cookie; open
  without one only while reads are open (loopback and no read token, or JOBPULSE_PUBLIC_READ).
- WRITE: a write token, never the cookie (so no page of another site can make a browser
  write: CSRF-safe by construction). A read token gets 403.
- LEGACY: WRITE, or a source inside JOBPULSE_LEGACY_TRUSTED_NETWORKS (the seeds' senders).
- WEBHOOK: Grafana's basic-auth pair.
- PUBLIC: health probes and the session routes (which check the token they are given).

Tokens are compared in constant time against every configured token (no early exit that
would tell which prefix matched) and never logged. Failed authentications are counted per
source address; past ``auth_failures_per_minute`` in a minute the address gets 429 with
Retry-After until the oldest failure is a minute old.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import inspect
import json
import logging
import time
from collections import deque
from enum import Enum
from ipaddress import ip_address
from typing import Any

from fastapi import Depends, Request, Security, WebSocket
from fastapi.security import APIKeyCookie, HTTPBasic, HTTPBearer

from jobpulse.hub import errors
from jobpulse.hub.core.config import Settings

logger = logging.getLogger(__name__)

SESSION_COOKIE = "jobpulse_session"
_WINDOW = 60.0
# Addresses remembered at once; beyond, the least recently failing one is forgotten.
_ADDRESSES_MAX = 10_000


class Scope(str, Enum):
    PUBLIC = "public"
    READ = "read"
    WRITE = "write"
    LEGACY = "legacy"
    WEBHOOK = "webhook"


# Declared for the OpenAPI document (auto_error=False): Access reads the headers itself, so
# the messages, the 403 and the 503 for an unconfigured credential stay the hub's.
READ_TOKEN = HTTPBearer(auto_error=False, scheme_name="readToken",
                        description="a token of JOBPULSE_READ_TOKENS, or of the write tokens")
WRITE_TOKEN = HTTPBearer(auto_error=False, scheme_name="bearerToken",
                         description="a token of JOBPULSE_WRITE_TOKENS (or JOBPULSE_API_TOKEN), on every write "
                                     "except the webhook")
SESSION = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, scheme_name="sessionCookie",
                       description="the cookie POST /api/v1/session sets; accepted on reads only")
WEBHOOK_BASIC = HTTPBasic(auto_error=False, scheme_name="webhookBasic",
                          description="JOBPULSE_WEBHOOK_USER / JOBPULSE_WEBHOOK_PASSWORD (Grafana's contact point)")


class FailureLimiter:
    """Failed authentications per source address over the last minute. Called from the event
    loop only (the access dependencies are async), so it needs no lock."""

    def __init__(self, limit: int, clock=time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self.failed = 0
        self.refused = 0

    def _recent(self, address: str) -> deque[float] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        horizon = self._clock() - _WINDOW
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None when it may now."""
        times = self._recent(address)
        if times is None or len(times) < self.limit:
            return None
        return max(1, int(times[0] + _WINDOW - self._clock()) + 1)

    def fail(self, address: str) -> bool:
        """Count a failure; True when it is the one that reaches the limit."""
        self.failed += 1
        times = self._recent(address)
        if times is None:
            if len(self._failures) >= _ADDRESSES_MAX:
                del self._failures[next(iter(self._failures))]
            times = self._failures[address] = deque()
        else:  # most recently failing last, so the oldest is dropped first
            self._failures[address] = self._failures.pop(address)
        times.append(self._clock())
        return len(times) == self.limit


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Access:
    """The credentials of one app, and the decision for each request."""

    def __init__(self, settings: Settings, clock=time.time) -> None:
        self.settings = settings
        self._write = tuple(t.encode() for t in settings.write_token_list)
        self._read = tuple(t.encode() for t in settings.read_token_list)
        self._clock = clock
        # Fixed for the app's life, like the settings it comes from; asked on every read.
        self.reads_open = settings.reads_open
        self.limiter = FailureLimiter(settings.auth_failures_per_minute)
        secret = settings.session_secret.get_secret_value() if settings.session_secret else None
        # Derived from every token: replicas with the same tokens agree, and a rotation (a token
        # removed) ends the sessions opened with the old set.
        material = secret.encode() if secret else b"\0".join(sorted(self._write + self._read))
        self._session_key = hashlib.sha256(b"jobpulse-session\0" + material).digest()

    # --- credentials ------------------------------------------------------------------------

    def token_scope(self, token: str) -> Scope | None:
        """WRITE or READ for a configured token, None otherwise. Every token is compared, in
        constant time, whatever matched first."""
        presented = token.encode()
        write = read = False
        for known in self._write:
            write |= hmac.compare_digest(presented, known)
        for known in self._read:
            read |= hmac.compare_digest(presented, known)
        return Scope.WRITE if write else Scope.READ if read else None

    @property
    def sessions_possible(self) -> bool:
        return bool(self._write or self._read)

    def new_session(self) -> tuple[str, int]:
        expires = int(self._clock()) + self.settings.session_seconds
        payload = _b64(json.dumps({"exp": expires}, separators=(",", ":")).encode())
        signature = _b64(hmac.new(self._session_key, payload.encode(), hashlib.sha256).digest())
        return f"{payload}.{signature}", expires

    def session_valid(self, cookie: str | None) -> bool:
        if not cookie or cookie.count(".") != 1:
            return False
        payload, signature = cookie.split(".")
        expected = _b64(hmac.new(self._session_key, payload.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            return False
        try:
            expires = json.loads(_unb64(payload))["exp"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            return False
        return isinstance(expires, int) and expires > self._clock()

    # --- decisions ----------------------------------------------------------------------------

    def refuse(self, address: str, what: str, reason: str, error: errors.HubError) -> errors.HubError:
        """A failed authentication: counted and logged (never with the secret presented)."""
        if self.limiter.fail(address):
            logger.warning("authentication: %s blocked for a minute after %d failures (last: %s, %s)",
                           address, self.limiter.limit, what, reason)
        else:
            logger.warning("authentication failed from %s on %s: %s", address, what, reason)
        return error

    def check_limit(self, address: str) -> None:
        wait = self.limiter.retry_after(address)
        if wait is not None:
            self.limiter.refused += 1
            raise errors.TooManyFailures(
                f"too many failed authentications from {address}: try again in {wait} s", wait)

    def is_open(self, scope: Scope) -> bool:
        """The scope needs no credential at all (it depends on nothing of the request)."""
        return scope is Scope.PUBLIC or (scope is Scope.READ and self.reads_open)

    def check(self, scope: Scope, headers, cookies, address: str, what: str) -> None:
        if self.is_open(scope):
            return
        if scope is Scope.LEGACY and self._trusted(address):
            return
        self.check_limit(address)
        if scope is Scope.WEBHOOK:
            return self._check_webhook(headers, address, what)
        if scope in (Scope.WRITE, Scope.LEGACY) and not self._write:
            raise errors.WritesDisabled("writes are disabled: no write token is set on the hub "
                                        "(JOBPULSE_WRITE_TOKENS or JOBPULSE_API_TOKEN)")
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token:
            granted = self.token_scope(token)
            if granted is None:
                raise self.refuse(address, what, "invalid bearer token", errors.AuthError("invalid bearer token"))
            if scope is Scope.READ or granted is Scope.WRITE:
                return
            raise errors.Forbidden("this token may read, not write: writes need a write token")
        if scope is Scope.READ:
            cookie = cookies.get(SESSION_COOKIE)
            if self.session_valid(cookie):
                return
            if cookie:
                raise self.refuse(address, what, "invalid or expired session cookie",
                                   errors.AuthError("invalid or expired session: log in again (POST /api/v1/session)"))
            raise errors.AuthError("missing credentials: a read token (Authorization: Bearer <token>) or a "
                                   "session cookie (POST /api/v1/session)")
        raise errors.AuthError("missing bearer token (Authorization: Bearer <write token>)")

    def _trusted(self, address: str) -> bool:
        if not self.settings.legacy_trusted_networks:
            return False
        try:
            source = ip_address(address)
        except ValueError:
            return False
        return any(source in net for net in self.settings.trusted_networks)

    def _check_webhook(self, headers, address: str, what: str) -> None:
        s = self.settings
        if not s.webhook_user or not s.webhook_password:
            raise errors.WritesDisabled(
                "the webhook is disabled: JOBPULSE_WEBHOOK_USER / JOBPULSE_WEBHOOK_PASSWORD are not set")
        scheme, _, encoded = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise errors.AuthError("missing basic auth credentials")
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise self.refuse(address, what, "malformed basic auth credentials",
                               errors.AuthError("malformed basic auth credentials")) from None
        ok_user = hmac.compare_digest(user.encode(), s.webhook_user.encode())
        ok_password = hmac.compare_digest(password.encode(), s.webhook_password.get_secret_value().encode())
        if not (sep and ok_user and ok_password):
            raise self.refuse(address, what, "invalid webhook credentials",
                               errors.AuthError("invalid webhook credentials"))


def client_address(request: Request | WebSocket) -> str:
    return request.client.host if request.client is not None else "unknown"


def get_access(request: Request) -> Access:
    return request.app.state.access


def _requires(scope: Scope, *schemes) -> Any:
    """The dependency that enforces ``scope``; ``schemes`` only document it in the OpenAPI."""

    async def checked(request: Request, **_declared) -> None:
        access: Access = request.app.state.access
        # Open routes return before anything of the request is parsed: the job list is
        # polled by every GUI, and the cookies, address and URL cost it more than the check.
        if access.is_open(scope):
            return
        access.check(scope, request.headers, request.cookies, client_address(request),
                     f"{request.method} {request.url.path}")

    # FastAPI reads a dependency's parameters from its signature: one Security(...) per scheme
    # puts each scheme on the operation, as alternatives.
    checked.__signature__ = inspect.Signature(
        [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
        + [inspect.Parameter(f"_scheme{i}", inspect.Parameter.KEYWORD_ONLY, default=Security(s))
           for i, s in enumerate(schemes)])
    checked.scope = scope
    return Depends(checked)


async def check_websocket(websocket: WebSocket) -> bool:
    """READ for a WebSocket: False (after closing it with 1008, policy violation) when refused."""
    access: Access = websocket.app.state.access
    try:
        access.check(Scope.READ, websocket.headers, websocket.cookies, client_address(websocket),
                     f"WS {websocket.url.path}")
    except errors.HubError as err:
        await websocket.close(code=1008, reason=err.detail[:120])
        return False
    return True


def app_routes(app) -> list:
    """Every route of ``app`` with its full path, methods and combined dependencies: FastAPI
    0.165 keeps included routers as one entry each and resolves them lazily (RouteContext);
    earlier releases copied every route into ``app.routes``."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def is_websocket(route) -> bool:
    from fastapi.routing import APIWebSocketRoute

    return isinstance(getattr(route, "original_route", route), APIWebSocketRoute)


def route_scope(route) -> Scope | None:
    """The scope a route declared (the dependency above among its dependencies), or None."""
    endpoint = getattr(route, "endpoint", None)
    declared = getattr(endpoint, "scope", None)
    if isinstance(declared, Scope):
        return declared
    for dep in getattr(getattr(route, "dependant", None), "dependencies", ()):
        declared = getattr(dep.call, "scope", None)
        if isinstance(declared, Scope):
            return declared
    return None


Public = _requires(Scope.PUBLIC)
ReadAccess = _requires(Scope.READ, READ_TOKEN, SESSION)
WriteAccess = _requires(Scope.WRITE, WRITE_TOKEN)
LegacyAccess = _requires(Scope.LEGACY, WRITE_TOKEN)
WebhookAccess = _requires(Scope.WEBHOOK, WEBHOOK_BASIC)


def websocket_scope(scope: Scope):
    """Marks a WebSocket endpoint's scope (it checks it itself, with check_websocket)."""

    def mark(endpoint):
        endpoint.scope = scope
        return endpoint

    return mark
