"""The OpenAPI document a generated client can trust: every error status a route really
answers, with the ``{"detail": ...}`` body, and the credentials each write needs.

Routes declare their own statuses with ``problems(...)``; ``complete_openapi`` adds the
ones every route shares (503 when the database is down; 400 and 413 from the body limits on
every write; 401 on every authenticated route) and moves the ``$defs`` that pydantic leaves
inside hand-written request schemas into ``components`` so every ``$ref`` resolves.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from jobpulse.hub.schemas import Problem

_DESCRIPTIONS = {
    400: "invalid input: the detail says which part and why",
    401: "missing or wrong credential",
    403: "a credential without this scope: a read token (or a session) on a write",
    429: "too many failed authentications from this address in the last minute: see Retry-After",
    404: "no such job or node",
    409: "conflict with the stored state: the detail says which",
    413: "request body over the size limit (JOBPULSE_MAX_BODY_BYTES)",
    503: "a backing service (database, InfluxDB) is down, or the credential this write needs is not "
         "configured on the hub",
}

# Routes that answer without touching the database or InfluxDB.
_NO_BACKEND = frozenset({"/healthz"})


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem, "description": _DESCRIPTIONS[code]} for code in codes}


def _hoist_defs(node: Any, components: dict[str, Any]) -> Any:
    """Inline schemas from ``model_json_schema()`` carry ``$defs`` with ``#/$defs/X`` refs,
    which do not resolve inside an OpenAPI document."""
    if isinstance(node, dict):
        for name, schema in node.pop("$defs", {}).items():
            components.setdefault(name, _hoist_defs(schema, components))
        return {k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" and isinstance(v, str)
                    else _hoist_defs(v, components)) for k, v in node.items()}
    if isinstance(node, list):
        return [_hoist_defs(v, components) for v in node]
    return node


def _problem_response(code: int) -> dict[str, Any]:
    return {"description": _DESCRIPTIONS[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def complete_openapi(app: FastAPI, *, reads_open: bool = False) -> None:
    """Install ``app.openapi`` building the completed document once. ``reads_open``: the read
    routes' credentials are optional (an empty requirement among the alternatives)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("Problem", Problem.model_json_schema())
        doc["paths"] = _hoist_defs(doc["paths"], components)
        for path, item in doc["paths"].items():
            for method, op in item.items():
                responses = op.setdefault("responses", {})
                shared = []
                if path not in _NO_BACKEND:
                    shared.append(503)
                if "requestBody" in op:
                    shared += [400, 413]
                security = op.get("security") or []
                if security:
                    shared += [401, 429]
                    if {"bearerToken"} == {name for req in security for name in req}:
                        shared.append(403)  # a read token is a bearer token too
                    if reads_open and any("readToken" in req for req in security):
                        security.append({})
                for code in shared:
                    responses.setdefault(str(code), _problem_response(code))
        app.openapi_schema = doc
        return doc

    app.openapi = openapi
