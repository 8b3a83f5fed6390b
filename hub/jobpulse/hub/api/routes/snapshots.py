"""The seed node daemon's push endpoint (POST /api/telemetry/snapshot), kept so existing daemons
keep working: a snapshot merges into the node's row by the same rule as collector host metrics."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from jobpulse.hub import errors
from jobpulse.hub.api.deps import InfluxDep, LegacyAccess, StoreDep
from jobpulse.hub.api.openapi import problems
from jobpulse.hub.core.clock import sender_time, utcnow
from jobpulse.hub.influx import InfluxError, snapshot_lines
from jobpulse.hub.schemas import LegacySnapshot
from jobpulse.hub.state import NodeObservation

router = APIRouter(prefix="/api/telemetry", tags=["nodes"])


@router.post(
    "/snapshot",
    status_code=204,
    response_class=Response,
    dependencies=[LegacyAccess],
    openapi_extra={"requestBody": {"content": {"application/json": {
        "schema": LegacySnapshot.model_json_schema()}}, "required": True}},
    responses=problems(400),
)
async def node_snapshot(request: Request, store: StoreDep, influx: InfluxDep):
    try:
        data = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise errors.InvalidInput(f"body is not valid JSON: {str(err)[:100]}") from err
    if not isinstance(data, dict):
        raise errors.InvalidInput("body must be a JSON object")
    try:
        body = LegacySnapshot.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ())) or "body"
        raise errors.InvalidInput(f"invalid snapshot: {where}: {first.get('msg')}") from err
    now = utcnow()
    at = sender_time(body.timestamp, now)
    snapshot = body.to_snapshot()
    # InfluxDB first: a refused write is a 503 with nothing stored, and the daemon's retry sends it again.
    try:
        await run_in_threadpool(influx.write, snapshot_lines(body.node_id, at, snapshot))
    except InfluxError as err:
        raise errors.InfluxUnavailable(str(err)[:200]) from err
    await run_in_threadpool(store.apply_node_observation, NodeObservation(body.node_id, at, snapshot))
    return Response(status_code=204)
