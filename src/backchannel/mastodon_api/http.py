"""Responses as Mastodon sends them: JSON, ``Link`` pagination, CORS, rate-limit headers.

``MastodonEdge`` is pure ASGI (it only adds headers on ``http.response.start``), so
it costs nothing on streamed bodies and never buffers them. It also serves the few
*hot reads* (``hot_read``: the timelines walls and apps poll) straight away, ahead of
the app's routing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus, urlencode

import orjson
from fastapi import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backchannel.errors import AppError

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


_PAGE_URLS: dict[tuple[Any, ...], str] = {}
_MAX_PAGE_URLS = 1024


def _page_url(request: Request, path: str | None) -> str:
    """The URL the ``Link`` header pages, without its query; remembered by what it is
    made of (Starlette builds two URL objects for it), as polled pages repeat."""
    scope = request.scope
    host = next((value for name, value in scope["headers"] if name == b"host"), None)
    key = (
        scope.get("scheme"),
        host,
        scope.get("server"),
        scope.get("root_path"),
        scope.get("app_root_path"),
        scope.get("path"),
        path,
    )
    url = _PAGE_URLS.get(key)
    if url is None:
        if len(_PAGE_URLS) >= _MAX_PAGE_URLS:
            _PAGE_URLS.clear()
        url = _PAGE_URLS[key] = str(request.base_url).rstrip("/") + (path or request.url.path)
    return url


@lru_cache(maxsize=1024)
def _kept_query(kept: tuple[tuple[str, str], ...]) -> str:
    """The kept parameters, encoded and ready for one more (``…&``), or ``""``."""
    return urlencode(kept) + "&" if kept else ""


def link_header(request: Request, ids: Sequence[int | str], path: str | None = None) -> str:
    """``<…?max_id=LAST>; rel="next", <…?min_id=FIRST>; rel="prev"``, other params kept."""
    if not ids:
        return ""
    base = _page_url(request, path)
    kept = _kept_query(
        tuple(
            (k, v)
            for k, v in request.query_params.multi_items()
            if k not in ("max_id", "min_id", "since_id", "access_token")
        )
    )
    following = f"{kept}max_id={quote_plus(str(ids[-1]))}"
    previous = f"{kept}min_id={quote_plus(str(ids[0]))}"
    return f'<{base}?{following}>; rel="next", <{base}?{previous}>; rel="prev"'


def paged(request: Request, items: list[dict[str, object]], ids: Sequence[int | str]) -> JSON:
    link = link_header(request, ids)
    return JSON(items, headers={"Link": link} if link else None)


HotHandler = Callable[[Request], Awaitable[Response]]
_HOT_READS: list[tuple[re.Pattern[str], dict[str, Any], HotHandler]] = []


def hot_read(path: str) -> Callable[[HotHandler], HotHandler]:
    """Serve ``GET path`` from ``MastodonEdge`` directly, ahead of the app's routing.

    For the reads walls and apps poll: routing through every route declared before
    it and FastAPI's per-request machinery cost more than such a page itself. The
    handler gets the request (``path_params`` filled) and returns the response. The
    path stays declared as a FastAPI route too (docs, ``HEAD``, other methods); a
    request the handler refuses with an ``AppError`` is passed on to the app, which
    refuses it again through its error handlers, so errors keep their one shape.
    """
    regex, _, convertors = compile_path(path)

    def register(handler: HotHandler) -> HotHandler:
        _HOT_READS.append((regex, convertors, handler))
        return handler

    return register


def _hot_read_for(scope: Scope) -> tuple[HotHandler, dict[str, Any]] | None:
    """The hot read for this request, if it is one the app's inner layers would not
    touch: a NUL is BodyLimit's to refuse (kit.body_limit), and a request with cookies
    goes through SessionMiddleware (which refreshes a signed-in browser's session)."""
    if scope["method"] != "GET" or scope.get("root_path"):
        return None
    path: str = scope["path"]
    if "\x00" in path or b"%00" in scope.get("query_string", b""):
        return None
    if any(name == b"cookie" for name, _ in scope["headers"]):
        return None
    for regex, convertors, handler in _HOT_READS:
        match = regex.match(path)
        if match is not None:
            params = {k: convertors[k].convert(v) for k, v in match.groupdict().items()}
            return handler, params
    return None


async def _serve_hot(
    handler: HotHandler, params: dict[str, Any], scope: Scope, receive: Receive, send: Send
) -> bool:
    """Whether the hot handler answered (False: it raised an ``AppError``)."""
    scope = {**scope, "path_params": params}
    try:
        response = await handler(Request(scope, receive))
    except AppError:
        return False
    await response(scope, receive, send)
    return True


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

        hot = _hot_read_for(scope)
        if hot is not None and await _serve_hot(*hot, scope, receive, send_with_headers):
            return
        await self.app(scope, receive, send_with_headers)


def _is_loopback(scope: Scope) -> bool:
    return _loopback_host((scope.get("client") or ("", 0))[0])


@lru_cache(maxsize=1024)
def _loopback_host(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@lru_cache(maxsize=8)
def _reset_text(reset: int) -> bytes:
    # One window end per five minutes: formatted once, not for every request.
    return datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z").encode()


def _limit_headers(limit: int, remaining: int, reset: int) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-ratelimit-limit", str(limit).encode()),
        (b"x-ratelimit-remaining", str(remaining).encode()),
        (b"x-ratelimit-reset", _reset_text(reset)),
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
