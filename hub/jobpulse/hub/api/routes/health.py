"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from jobpulse.hub.api.deps import InfluxDep, Public, StoreDep
from jobpulse.hub.influx import InfluxError
from jobpulse.hub.schemas import Health, Readiness

router = APIRouter(tags=["health"], dependencies=[Public])

_HEALTH_BODY = b'{"status":"ok"}'


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(store: StoreDep, influx: InfluxDep):
    database = influxdb = "ok"
    try:
        store.ping()
    except Exception as err:  # noqa: BLE001 - readiness reports, never raises
        database = f"unavailable: {type(err).__name__}"
    try:
        influx.ping()
    except InfluxError as err:
        influxdb = f"unavailable: {err}"[:200]
    ready = database == "ok" and influxdb == "ok"
    body = Readiness(status="ready" if ready else "not ready", database=database, influxdb=influxdb)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
