"""Responses as Mastodon sends them: JSON, ``Link`` pagination, CORS, rate-limit headers.

``MastodonEdge`` is pure ASGI (it only adds headers on ``http.response.start``), so
it costs nothing on streamed bodies and never buffers them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlencode

import orjson
from fastapi import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Paths of the Mastodon API (not the native ``/api/…`` routes).
PREFIXES = ("/api/v1/", "/api/v2/", "/oauth/token", "/oauth/revoke", "/.well-known/oauth-")
EXPOSED = b"Link, X-RateLimit-Reset, X-RateLimit-Limit, X-RateLimit-Remaining, X-Request-Id"
CORS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", EXPOSED),
]
PREFLIGHT = [
    *CORS,
    (b"access-control-allow-methods", b"GET, POST, PUT, DELETE, PATCH, OPTIONS"),
    (b"access-control-allow-headers", b"Authorization, Content-Type, Idempotency-Key"),
    (b"access-control-max-age", b"1728000"),
]


class JSON(Response):
    media_type = "application/json; charset=utf-8"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


def link_header(request: Request, ids: Sequence[int | str], path: str | None = None) -> str:
    """``<…?max_id=LAST>; rel="next", <…?min_id=FIRST>; rel="prev"``, other params kept."""
    if not ids:
        return ""
    base = str(request.base_url).rstrip("/") + (path or request.url.path)
    kept = [
        (k, v)
        for k, v in request.query_params.multi_items()
        if k not in ("max_id", "min_id", "since_id", "access_token")
    ]
    following = urlencode([*kept, ("max_id", str(ids[-1]))])
    previous = urlencode([*kept, ("min_id", str(ids[0]))])
    return f'<{base}?{following}>; rel="next", <{base}?{previous}>; rel="prev"'


def paged(request: Request, items: list[dict[str, object]], ids: Sequence[int | str]) -> JSON:
    link = link_header(request, ids)
    return JSON(items, headers={"Link": link} if link else None)


class RateLimits:
    """Fixed five-minute windows per token (or address), as Mastodon's defaults are.

    Counted per process; loopback callers are never refused (Mastodon safelists them
    too), but see the headers.
    """

    def __init__(self, limit: int = 300, period: int = 300, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.period = period
        self.max_keys = max_keys
        self._counts: dict[str, tuple[int, int]] = {}

    def hit(self, key: str, now: float) -> tuple[int, int]:
        """(remaining, window end as a Unix time) after counting this request."""
        window = int(now // self.period)
        seen_window, count = self._counts.get(key, (window, 0))
        if seen_window != window:
            count = 0
        if len(self._counts) >= self.max_keys:
            self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
        self._counts[key] = (window, count + 1)
        return self.limit - count - 1, (window + 1) * self.period


def _client_key(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return "t:" + hashlib.sha256(value).hexdigest()
    return "a:" + (scope.get("client") or ("", 0))[0]


class MastodonEdge:
    """CORS for browser clients and walls, rate-limit headers, preflight answers."""

    def __init__(self, app: ASGIApp, limits: RateLimits | None = None) -> None:
        self.app = app
        self.limits = limits or RateLimits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PREFIXES):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": PREFLIGHT})
            await send({"type": "http.response.body", "body": b""})
            return
        extra = list(CORS)
        if not path.startswith("/api/v1/streaming"):
            remaining, reset = self.limits.hit(_client_key(scope), time.time())
            if remaining < 0 and not _is_loopback(scope):
                await _too_many(send, self.limits.limit, reset)
                return
            extra += _limit_headers(self.limits.limit, max(remaining, 0), reset)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_loopback(scope: Scope) -> bool:
    host = (scope.get("client") or ("", 0))[0]
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _limit_headers(limit: int, remaining: int, reset: int) -> list[tuple[bytes, bytes]]:
    when = datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return [
        (b"x-ratelimit-limit", str(limit).encode()),
        (b"x-ratelimit-remaining", str(remaining).encode()),
        (b"x-ratelimit-reset", when.encode()),
    ]


async def _too_many(send: Send, limit: int, reset: int) -> None:
    body = orjson.dumps({"error": "Too many requests"})
    headers = [
        *CORS,
        *_limit_headers(limit, 0, reset),
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(max(reset - int(time.time()), 1)).encode()),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
