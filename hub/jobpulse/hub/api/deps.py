"""Dependencies as Annotated aliases (StoreDep, SettingsDep, InfluxDep) and the auth checks."""

from __future__ import annotations

import base64
import binascii
import hmac
from ipaddress import ip_address
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBasic, HTTPBearer

from jobpulse.hub import errors
from jobpulse.hub.core.config import Settings
from jobpulse.hub.influx import InfluxClient
from jobpulse.hub.store import Store


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_influx(request: Request) -> InfluxClient:
    return request.app.state.influx


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
InfluxDep = Annotated[InfluxClient, Depends(get_influx)]


# Declared for the OpenAPI document only (auto_error=False): the checks below read the header
# themselves, so their messages and the 503 for an unconfigured credential stay the hub's.
_BEARER = HTTPBearer(auto_error=False, scheme_name="bearerToken",
                     description="JOBPULSE_API_TOKEN, on every write except the webhook")
_BASIC = HTTPBasic(auto_error=False, scheme_name="webhookBasic",
                   description="JOBPULSE_WEBHOOK_USER / JOBPULSE_WEBHOOK_PASSWORD (Grafana's contact point)")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def require_token(request: Request, settings: SettingsDep, _declared=Security(_BEARER)) -> None:
    """Bearer token of every write. Without a configured token, writes are refused."""
    if not settings.writes_configured:
        raise errors.WritesDisabled("writes are disabled: JOBPULSE_API_TOKEN is not set on the hub")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise errors.AuthError("missing bearer token (Authorization: Bearer <JOBPULSE_API_TOKEN>)")
    if not _same(token.strip(), settings.api_token.get_secret_value()):
        raise errors.AuthError("invalid bearer token")


def require_legacy_sender(request: Request, settings: SettingsDep, _declared=Security(_BEARER)) -> None:
    """The seeds' push endpoints: the bearer token, or a source address inside
    JOBPULSE_LEGACY_TRUSTED_NETWORKS (old senders that cannot send a token)."""
    if settings.legacy_trusted_networks and request.client is not None:
        try:
            source = ip_address(request.client.host)
        except ValueError:
            source = None
        if source is not None and any(source in net for net in settings.trusted_networks):
            return
    require_token(request, settings)


def require_webhook_auth(request: Request, settings: SettingsDep, _declared=Security(_BASIC)) -> None:
    """HTTP basic auth of Grafana's webhook contact point."""
    if not settings.webhook_user or not settings.webhook_password:
        raise errors.WritesDisabled(
            "the webhook is disabled: JOBPULSE_WEBHOOK_USER / JOBPULSE_WEBHOOK_PASSWORD are not set"
        )
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise errors.AuthError("missing basic auth credentials")
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError) as err:
        raise errors.AuthError("malformed basic auth credentials") from err
    ok_user = _same(user, settings.webhook_user)
    ok_password = _same(password, settings.webhook_password.get_secret_value())
    if not (sep and ok_user and ok_password):
        raise errors.AuthError("invalid webhook credentials")


TokenAuth = Depends(require_token)
LegacySenderAuth = Depends(require_legacy_sender)
WebhookAuth = Depends(require_webhook_auth)
