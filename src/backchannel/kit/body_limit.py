"""Refuse request bodies over a limit before anything parses them (pure ASGI, so it
costs nothing on streaming responses), and NUL characters anywhere in a request:
PostgreSQL cannot store them, so they would fail late, as a server error."""

from __future__ import annotations

from collections.abc import Collection

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NUL_MESSAGE = "the request contains a NUL character (\\u0000 or %00), which is not allowed"


# ``bytes.find``, not ``in``: on Python 3.11, ``b"…" in data`` first tries the needle
# as an integer and formats (then drops) a TypeError, which costs more than the search
# on every request.


def has_nul(scope: Scope) -> bool:
    return "\x00" in scope.get("path", "") or scope.get("query_string", b"").find(b"%00") >= 0


def body_has_nul(scope: Scope, body: bytes) -> bool:
    if body.find(b"\x00") >= 0 or body.find(b"\\u0000") >= 0:
        return True
    form = any(
        name == b"content-type" and value.startswith(b"application/x-www-form-urlencoded")
        for name, value in scope["headers"]
    )
    return form and body.find(b"%00") >= 0


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, *, streamed: Collection[str] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        #: Paths whose handlers stream the body and limit it themselves (uploads: large,
        #: binary, so neither this limit nor the NUL check fits them).
        self.streamed = frozenset(streamed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and has_nul(scope):
            await self._refuse(send, 400, NUL_MESSAGE)
            return
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.streamed:
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._refuse(send, 400, "invalid Content-Length")
                    return
                if declared > self.max_bytes:
                    await self._refuse(send, 413, self._too_large())
                    return
        # Read the body here (it is small by now), so a chunked body over the limit is
        # refused as cleanly as a declared one.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, 413, self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body_has_nul(scope, body):
            await self._refuse(send, 400, NUL_MESSAGE)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes"

    async def _refuse(self, send: Send, status: int, message: str) -> None:
        body = orjson.dumps({"error": message})
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
