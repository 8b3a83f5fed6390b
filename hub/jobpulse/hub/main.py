"""The hub application: ``create_app(settings)`` and the ``jobpulse-hub`` entry point."""

from __future__ import annotations

import argparse
import logging
import sys
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from jobpulse.hub import errors
from jobpulse.hub.api.access import Access, app_routes, route_scope
from jobpulse.hub.api.main import api_router
from jobpulse.hub.api.methods import AllowedMethods
from jobpulse.hub.api.job_stream import JobBroadcaster
from jobpulse.hub.api.node_stream import NodeBroadcaster
from jobpulse.hub.api.openapi import complete_openapi
from jobpulse.hub.core.cache import ResponseCache
from jobpulse.hub.core.config import Settings, serving_problem
from jobpulse.hub.core.db import DB_ERRORS, database_unavailable, make_engine, make_reader_engine
from jobpulse.hub.core.limits import BodyLimits
from jobpulse.hub.influx import InfluxClient, InfluxError
from jobpulse.hub.reconciler import Reconciler
from jobpulse.hub.store import Store, Thresholds

logger = logging.getLogger("jobpulse.hub")


def _version() -> str:
    try:
        return version("jobpulse")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def create_app(settings: Settings | None = None, *, influx_transport=None) -> FastAPI:
    """Build the app. The schema must exist (``jobpulse.hub.migrations.upgrade``); the
    reconciler runs in the lifespan when ``settings.reconciler_enabled``."""
    settings = settings or Settings()
    store = Store(make_engine(settings.database_url), ResponseCache(settings.list_cache_seconds),
                  reader=make_reader_engine(settings.database_url))
    thresholds = Thresholds(settings.stalled_after, settings.failed_after, settings.stuck_after,
                            settings.freshness_seconds, settings.node_down_after, settings.late_after,
                            settings.slow_after, settings.slow_ratio)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            await run_in_threadpool(store.publish_thresholds, thresholds)
        except DB_ERRORS as err:
            logger.warning("could not publish thresholds (database down?): %s", err)
        reconciler = None
        if settings.reconciler_enabled:
            reconciler = Reconciler(settings, list_cache=store.list_cache)
            reconciler.start()
        app.state.reconciler = reconciler
        try:
            yield
        finally:
            if reconciler is not None:
                await run_in_threadpool(reconciler.stop)
            await app.state.node_stream.close()
            await app.state.job_stream.close()
            app.state.influx.close()
            store.dispose()

    app = FastAPI(
        title="jobpulse hub",
        version=_version(),
        description="Job state reconciled from InfluxDB telemetry, served to the GUI.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.influx = InfluxClient.from_settings(settings, transport=influx_transport)
    app.state.reconciler = None
    app.state.node_stream = NodeBroadcaster(store, settings.sse_poll_interval, settings.node_stream_clients,
                                            settings.node_stream_backlog)
    app.state.job_stream = JobBroadcaster(store, settings.sse_poll_interval, settings.job_stream_clients,
                                          settings.job_stream_backlog)
    app.state.access = Access(settings)
    app.add_middleware(BodyLimits, max_bytes=settings.max_body_bytes, max_depth=settings.max_body_depth)
    app.add_middleware(AllowedMethods)
    if settings.cors_origin_list:
        # Outermost, so a preflight is answered before any other layer sees the OPTIONS request.
        # Credentials: the session cookie; writes still need the bearer header (never the cookie).
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origin_list), allow_credentials=True,
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type"],
                           max_age=600)

    @app.exception_handler(errors.HubError)
    async def _hub_error(_request: Request, err: errors.HubError):
        headers = {"Retry-After": str(err.retry_after)} if isinstance(err, errors.TooManyFailures) else None
        return JSONResponse({"detail": err.detail}, status_code=err.status_code, headers=headers)

    async def _db_error(_request: Request, err: Exception):
        logger.warning("database error: %s", err)
        e = database_unavailable(err)
        return JSONResponse({"detail": e.detail}, status_code=e.status_code)

    for error_type in DB_ERRORS:
        app.add_exception_handler(error_type, _db_error)

    @app.exception_handler(InfluxError)
    async def _influx_error(_request: Request, err: InfluxError):
        e = errors.InfluxUnavailable(str(err)[:200])
        return JSONResponse({"detail": e.detail}, status_code=e.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, err: Exception):
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    app.include_router(api_router)
    undeclared = [r.path for r in app_routes(app) if r.path not in _FASTAPI_DOCS and route_scope(r) is None]
    if undeclared:
        raise RuntimeError(f"routes without a declared access scope (api/access.py): {undeclared}")
    complete_openapi(app, reads_open=settings.reads_open)
    return app


# FastAPI's own pages (the OpenAPI document and its viewers): public, like /healthz.
_FASTAPI_DOCS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def _settings_problem(err: ValidationError) -> str:
    """A settings error as one line naming the environment variable."""
    first = err.errors()[0]
    name = "JOBPULSE_" + "_".join(str(x) for x in first.get("loc", ())).upper()
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    return message if message.startswith(name) else f"{name}: {message}"


def main(argv: list[str] | None = None) -> int:
    """``jobpulse-hub``: migrate, then serve (the reconciler runs in the app's lifespan)."""
    parser = argparse.ArgumentParser(
        prog="jobpulse-hub",
        description="Serve the jobpulse hub: job state reconciled from InfluxDB into MySQL/SQLite, "
        "the GUI API and the Grafana webhook. Configured by JOBPULSE_* environment variables "
        "(docs/hub.md); the database schema is migrated at start.",
    )
    parser.add_argument("--host", help="address to listen on (default: $JOBPULSE_HOST, else 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default: $JOBPULSE_PORT, else 8000)")
    parser.add_argument("--tls-cert", type=Path, metavar="FILE",
                        help="serve HTTPS with this PEM certificate (default: $JOBPULSE_TLS_CERT_FILE; with --tls-key)")
    parser.add_argument("--tls-key", type=Path, metavar="FILE",
                        help="the certificate's PEM private key (default: $JOBPULSE_TLS_KEY_FILE)")
    parser.add_argument("--migrate", action="store_true",
                        help="migrate the database schema to this version and exit (a deployment's one-off "
                        "step before the replicas start); serves nothing")
    parser.add_argument("--check", action="store_true",
                        help="check the settings, the database and InfluxDB, print one line each and exit "
                        "(0: ready to serve, 1: a backend is unreachable, 2: a setting is invalid); "
                        "migrates and creates nothing")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("tls_cert_file", args.tls_cert),
                                   ("tls_key_file", args.tls_key)) if v is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as err:
        sys.stderr.write(f"jobpulse-hub: {_settings_problem(err)}\n")
        return 2
    if args.check:
        from jobpulse.hub.check import check

        ok, lines = check(settings)
        for line in lines:
            sys.stdout.write(f"jobpulse-hub: {line}\n")
        return 0 if ok else 1

    problem = None if args.migrate else serving_problem(settings)
    if problem:
        sys.stderr.write(f"jobpulse-hub: refusing to start: {problem}\n")
        return 2

    import uvicorn

    from jobpulse.hub.migrations import upgrade

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        upgrade(settings.database_url)
    except DB_ERRORS as err:
        sys.stderr.write(f"jobpulse-hub: cannot migrate the database: {str(err).splitlines()[0][:300]}\n")
        return 1
    if args.migrate:
        sys.stdout.write("jobpulse-hub: database schema is up to date\n")
        return 0
    tls = {}
    if settings.tls_cert_file is not None:
        tls = {"ssl_certfile": str(settings.tls_cert_file), "ssl_keyfile": str(settings.tls_key_file)}
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info",
                access_log=False, **tls)
    return 0
