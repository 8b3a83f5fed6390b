"""Bounded request bodies, as pure ASGI middleware, before any route or pydantic reads them:
a body over the size limit is answered 413 (declared by Content-Length or streamed), and a body
nested deeper than the depth limit is answered 400, so no JSON parser can recurse out of stack
(a legacy POST of 20 000 nested arrays once ended in a RecursionError and a 500)."""

from __future__ import annotations

import json

_OPEN, _CLOSE = frozenset(b"[{"), frozenset(b"]}")
_QUOTE, _BACKSLASH = ord('"'), ord("\\")


def nesting_depth(body: bytes, limit: int) -> int:
    """The deepest nesting of arrays and objects in ``body`` (outside strings), counted up to
    ``limit + 1``: no parse, so it costs one pass over at most the size limit's bytes."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif byte in _CLOSE:
            depth -= 1
    return deepest


class BodyLimits:
    def __init__(self, app, max_bytes: int, max_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    @staticmethod
    async def _answer(send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return await self.app(scope, receive, send)
        too_large = f"request body too large (limit {self.max_bytes} bytes)"
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = self.max_bytes + 1
            if declared > self.max_bytes:
                return await self._answer(send, 413, too_large)
        # Buffer the body (at most max_bytes), check it, then replay it to the route.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await self._answer(send, 413, too_large)
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if nesting_depth(body, self.max_depth) > self.max_depth:
            return await self._answer(send, 400, f"request body nested too deep (limit {self.max_depth} levels)")
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)
