"""``OPTIONS`` and ``405`` that name every method of a path: Starlette answers with the methods
of the first route whose path matches, so ``/api/v1/jobs`` (GET and POST in two routes) said
``Allow: POST`` only. Pure ASGI, in front of the router; requests the router serves pass
untouched (only an OPTIONS or a 405 asks the routes)."""

from __future__ import annotations

import json

from starlette.routing import Match

_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def allowed_methods(app, scope) -> set[str]:
    """Every method some route serves at ``scope``'s path, asked of the routes themselves
    (FastAPI nests included routers; their own ``matches`` knows their prefixes)."""
    routes = app.router.routes
    return {m for m in _METHODS
            if any(route.matches({**scope, "method": m})[0] is Match.FULL for route in routes)}


class AllowedMethods:
    def __init__(self, app) -> None:
        self.app = app

    @staticmethod
    async def _answer(send, status: int, methods: set[str], method: str) -> None:
        allow = ", ".join(sorted(methods | {"OPTIONS"}))
        body = b"" if status == 204 else json.dumps(
            {"detail": f"method {method} not allowed here; allowed: {allow}"}).encode()
        headers = [(b"allow", allow.encode()), (b"content-length", str(len(body)).encode())]
        if body:
            headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["method"] == "OPTIONS":
            methods = allowed_methods(scope["app"], scope)
            if methods:
                return await self._answer(send, 204, methods, "OPTIONS")
            return await self.app(scope, receive, send)
        replaced = False

        async def send_or_replace(message):
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 405:
                replaced = True
                return await self._answer(send, 405, allowed_methods(scope["app"], scope), scope["method"])
            if not replaced:
                await send(message)

        return await self.app(scope, receive, send_or_replace)
