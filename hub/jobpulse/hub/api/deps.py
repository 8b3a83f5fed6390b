"""Dependencies as Annotated aliases (StoreDep, SettingsDep, InfluxDep) and the access scopes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from jobpulse.hub.api import access
from jobpulse.hub.core.config import Settings
from jobpulse.hub.influx import InfluxClient
from jobpulse.hub.store import Store


# async: FastAPI runs a plain def dependency in its thread pool, a thread hop per request (a
# fifth of a list request's CPU) to read one attribute.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_store(request: Request) -> Store:
    return request.app.state.store


async def get_influx(request: Request) -> InfluxClient:
    return request.app.state.influx


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
InfluxDep = Annotated[InfluxClient, Depends(get_influx)]


# Every route declares who may call it with one of these (api/access.py says what each means).
Public = access.Public
ReadAccess = access.ReadAccess
WriteAccess = access.WriteAccess
LegacyAccess = access.LegacyAccess
WebhookAccess = access.WebhookAccess
