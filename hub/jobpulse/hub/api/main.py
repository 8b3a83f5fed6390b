"""All routers of the API."""

from fastapi import APIRouter

from jobpulse.hub.api.routes import (
    alerts,
    health,
    jobs,
    machines,
    nodes,
    page,
    pipeline,
    series,
    session,
    snapshots,
    stream,
    telemetry,
)

api_router = APIRouter()
api_router.include_router(page.router)
api_router.include_router(health.router)
api_router.include_router(pipeline.router, prefix="/api/v1")
api_router.include_router(session.router, prefix="/api/v1")
api_router.include_router(jobs.router, prefix="/api/v1")
api_router.include_router(series.router, prefix="/api/v1")
api_router.include_router(machines.router, prefix="/api/v1")
api_router.include_router(telemetry.router, prefix="/api/v1")
api_router.include_router(alerts.router, prefix="/api/v1")
api_router.include_router(nodes.router, prefix="/api/v1")
api_router.include_router(stream.router, prefix="/api/v1")
api_router.include_router(snapshots.router)
