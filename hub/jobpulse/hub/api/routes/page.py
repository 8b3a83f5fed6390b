"""The live page at ``/``: plain HTML, CSS and JavaScript of our own, shipped in the package
(jobpulse/hub/web/), no build step. The files hold no data and no secret: the page reads the
public GET API like any client (with the session cookie when reads need a credential), so
they are public. Strict headers: the page runs only its own script, loads nothing from
elsewhere, and cannot be framed."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

from fastapi import APIRouter, Response

from jobpulse.hub.api.deps import Public

router = APIRouter(tags=["page"], dependencies=[Public], include_in_schema=False)

# 'self' covers the page's own script, style, fetch/EventSource and WebSocket (same origin).
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cache-Control": "no-cache",
}
_TYPES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "app.css": "text/css; charset=utf-8"}


@lru_cache(maxsize=len(_TYPES))
def _asset(name: str) -> bytes:
    return files("jobpulse.hub").joinpath("web", name).read_bytes()


def _serve(name: str) -> Response:
    return Response(_asset(name), media_type=_TYPES[name], headers=_HEADERS)


@router.get("/")
def page() -> Response:
    return _serve("index.html")


@router.get("/static/app.js")
def script() -> Response:
    return _serve("app.js")


@router.get("/static/app.css")
def style() -> Response:
    return _serve("app.css")
