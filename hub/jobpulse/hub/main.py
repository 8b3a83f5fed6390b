"""The hub application: ``create_app(settings)`` and the ``jobpulse-hub`` entry point."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from jobpulse.hub import crud, errors
from jobpulse.hub.api.main import api_router
from jobpulse.hub.core.cache import ResponseCache
from jobpulse.hub.core.config import Settings
from jobpulse.hub.core.db import DB_ERRORS, database_unavailable, make_engine, make_sessionmaker
from jobpulse.hub.core.limits import BodySizeLimit
from jobpulse.hub.reconciler import InfluxError, Reconciler, make_influx

logger = logging.getLogger("jobpulse.hub")

VERSION = "0.1.0"


def create_app(settings: Settings | None = None, *, influx_transport=None) -> FastAPI:
    """Build the app. The schema must exist (``jobpulse.hub.migrations.upgrade``); the
    reconciler runs in the lifespan when ``settings.reconciler_enabled``."""
    settings = settings or Settings()
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            await run_in_threadpool(crud.write_thresholds, engine, settings)
        except DB_ERRORS as err:
            logger.warning("could not publish thresholds (database down?): %s", err)
        reconciler = None
        if settings.reconciler_enabled:
            reconciler = Reconciler(settings, on_write=app.state.list_cache.clear)
            reconciler.start()
        app.state.reconciler = reconciler
        try:
            yield
        finally:
            if reconciler is not None:
                await run_in_threadpool(reconciler.stop)
            app.state.influx.close()
            engine.dispose()

    app = FastAPI(
        title="jobpulse hub",
        version=VERSION,
        description="Job state reconciled from InfluxDB telemetry, served to the GUI.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.influx = make_influx(settings, transport=influx_transport)
    app.state.reconciler = None
    app.state.list_cache = ResponseCache(settings.list_cache_seconds)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    @app.exception_handler(errors.HubError)
    async def _hub_error(_request: Request, err: errors.HubError):
        return JSONResponse({"detail": err.detail}, status_code=err.status_code)

    @app.exception_handler(DB_ERRORS[0])
    @app.exception_handler(DB_ERRORS[1])
    @app.exception_handler(DB_ERRORS[2])
    @app.exception_handler(DB_ERRORS[3])
    async def _db_error(_request: Request, err: Exception):
        logger.warning("database error: %s", err)
        e = database_unavailable(err)
        return JSONResponse({"detail": e.detail}, status_code=e.status_code)

    @app.exception_handler(InfluxError)
    async def _influx_error(_request: Request, err: InfluxError):
        e = errors.InfluxUnavailable(str(err)[:200])
        return JSONResponse({"detail": e.detail}, status_code=e.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, err: Exception):
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    app.include_router(api_router)
    return app


def run() -> None:
    """``jobpulse-hub``: migrate, then serve (the reconciler runs in the app's lifespan)."""
    import uvicorn

    from jobpulse.hub.migrations import upgrade

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    upgrade(settings.database_url)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info",
                access_log=False)
