"""Talking to one Mastodon server: what it says about itself, its tag timeline (paged,
within its rate limits) and its hashtag stream. Every request goes through the
guarded client (``ctx.http``), JSON bodies through ``kit.http.fetch`` and its size limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from backchannel.connectors.base import Health
from backchannel.connectors.mastodon_sse import SSEDecoder, SSEEvent
from backchannel.kit.clock import as_utc, utcnow
from backchannel.kit.http import CONNECT_TIMEOUT, fetch
from backchannel.kit.urls import safe_url

#: Statuses per timeline page: Mastodon's maximum.
PAGE_LIMIT = 40
#: Mastodon's streaming server sends a heartbeat every 15 s (``:thump``); a stream
#: silent for this long is dead.
STREAM_READ_TIMEOUT = 60.0
#: The longest line of a stream kept; a Status is a few KB, rarely tens.
MAX_STREAM_LINE = 1_000_000
#: A throttled server that does not say how long to wait gets this many seconds.
DEFAULT_THROTTLE_WAIT = 60.0
#: Never wait longer than this on a server's word (its clock may be off); Mastodon's
#: rate-limit periods are five minutes.
MAX_THROTTLE_WAIT = 900.0
#: A 429 always waits at least this long, whatever Retry-After says: no tight loop.
MIN_429_WAIT = 1.0
#: Requests land a little after the reset the server named, not on it.
RESET_MARGIN = 0.05
#: Statuses that mean "sign in" or "this token may not": retrying soon will not help.
REFUSALS = frozenset({401, 403, 422})


def server_url(target: str) -> str:
    """The base URL a Mastodon connector's target names: ``scheme://host[:port]``,
    host lowercased (IDNs in punycode), default port, path, query and user info
    dropped; a bare host means https. Raises ValueError."""
    value = target.strip()
    if "://" not in value:
        value = f"https://{value}"
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise ValueError(f"not a server URL: {target!r}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"not a server URL: {target!r}")
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


class Refused(Exception):  # noqa: N818 - the server's answer, not our error
    """The server wants a sign-in, or a token allowed to do this (401, 403, 422)."""

    def __init__(self, status_code: int, error: str) -> None:
        super().__init__(f"HTTP {status_code}" + (f": {error}" if error else ""))
        self.status_code = status_code
        self.error = error


class BadAnswer(Exception):
    """Any other answer than the one asked for (a 5xx, a 400, JSON of the wrong shape)."""


@dataclass(frozen=True)
class ServerInfo:
    #: The domain of the server's own accounts (Mastodon's LOCAL_DOMAIN), which may
    #: differ from the host its web and API are on.
    domain: str
    #: Base URL of its streaming API (it is often on a host of its own, and the
    #: client drops the token on a redirect to another host).
    streaming_url: str


class RateGate:
    """Waits as the server's ``X-RateLimit-*`` headers and 429 ``Retry-After`` ask."""

    def __init__(self) -> None:
        self._not_before = 0.0

    async def wait(self) -> None:
        delay = self._not_before - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def observe(self, status_code: int, headers: httpx.Headers) -> float:
        """Take in a response's headers; returns how long the next request waits."""
        reset = _seconds_until(headers.get("x-ratelimit-reset"))
        if status_code == 429:
            delay = _retry_after(headers.get("retry-after"))
            if delay is None:
                delay = reset if reset is not None else DEFAULT_THROTTLE_WAIT
            delay = max(delay, MIN_429_WAIT)
        elif _int(headers.get("x-ratelimit-remaining")) == 0:
            delay = reset + RESET_MARGIN if reset is not None else DEFAULT_THROTTLE_WAIT
        else:
            return 0.0
        delay = min(max(delay, 0.0), MAX_THROTTLE_WAIT)
        self._not_before = max(self._not_before, time.monotonic() + delay)
        return delay


class MastodonClient:
    """One server's REST and streaming API, as the connector uses them."""

    def __init__(
        self, http: httpx.AsyncClient, server: str, *, max_bytes: int, health: Health
    ) -> None:
        self.http = http
        self.server = server
        self.max_bytes = max_bytes
        self.health = health
        #: A user access token, or None to read anonymously.
        self.token: str | None = None
        self.streaming_url = server
        self.gate = RateGate()
        # One request at a time per server: the rate-limit headers of the last
        # answer then tell exactly how many more may be sent.
        self._lock = asyncio.Lock()

    def _headers(self, *, auth: bool) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    async def _get(self, url: str, *, auth: bool = True) -> tuple[int, Any]:
        """GET ``url`` within the rate limits; (status, decoded JSON or None)."""
        while True:
            async with self._lock:
                await self.gate.wait()
                fetched = await fetch(
                    self.http, url, max_bytes=self.max_bytes, headers=self._headers(auth=auth)
                )
                self.gate.observe(fetched.status_code, fetched.headers)
            if fetched.status_code != 429:
                break
            self.health.counts["rate_limited"] += 1
        try:
            body = orjson.loads(fetched.content) if fetched.content else None
        except orjson.JSONDecodeError:
            body = None
        return fetched.status_code, body

    async def server_info(self) -> ServerInfo:
        """The server's account domain and streaming URL (v2 instance, else v1)."""
        status, body = await self._get(f"{self.server}/api/v2/instance", auth=False)
        if status == 200 and isinstance(body, dict):
            domain = body.get("domain")
            streaming = _path(body, "configuration", "urls", "streaming")
        else:
            status, body = await self._get(f"{self.server}/api/v1/instance", auth=False)
            if status != 200 or not isinstance(body, dict):
                raise BadAnswer(f"{self.server} has no instance information (HTTP {status})")
            domain = body.get("uri")
            streaming = _path(body, "urls", "streaming_api")
        host = httpx.URL(self.server).netloc.decode()
        return ServerInfo(
            domain=_account_domain(domain, host),
            streaming_url=_streaming_base(streaming) or self.server,
        )

    async def tag_page(self, tag: str, min_id: str | None, *, anonymous: bool = False) -> list[Any]:
        """Up to ``PAGE_LIMIT`` statuses just newer than ``min_id`` (the newest ones
        without it), newest first; ``anonymous`` leaves the token out."""
        params = {"limit": str(PAGE_LIMIT)}
        if min_id is not None:
            params["min_id"] = min_id
        url = httpx.URL(f"{self.server}/api/v1/timelines/tag/{quote(tag, safe='')}", params=params)
        status, body = await self._get(str(url), auth=not anonymous)
        if status == 200:
            if not isinstance(body, list):
                raise BadAnswer(f"the tag timeline answered {type(body).__name__}, not a list")
            return body
        if status == 404:
            # Mastodon knows a hashtag only once someone used it.
            return []
        if status in REFUSALS:
            raise Refused(status, _error_text(body))
        raise BadAnswer(f"the tag timeline answered HTTP {status}")

    @asynccontextmanager
    async def hashtag_stream(self, tag: str) -> AsyncIterator[HashtagStream]:
        """An open ``/api/v1/streaming/hashtag`` stream; raises ``Refused`` or
        ``BadAnswer`` when the server does not stream."""
        url = httpx.URL(f"{self.streaming_url}/api/v1/streaming/hashtag", params={"tag": tag})
        headers = self._headers(auth=True)
        # Identity: the line bound below then bounds what is held in memory.
        headers.update({"Accept": "text/event-stream", "Accept-Encoding": "identity"})
        timeout = httpx.Timeout(STREAM_READ_TIMEOUT, connect=CONNECT_TIMEOUT)
        async with self.http.stream("GET", url, headers=headers, timeout=timeout) as response:
            if response.status_code != 200:
                body = await _read_some(response, 4096)
                try:
                    error = _error_text(orjson.loads(body))
                except orjson.JSONDecodeError:
                    error = ""
                if response.status_code in REFUSALS:
                    raise Refused(response.status_code, error)
                raise BadAnswer(f"the stream answered HTTP {response.status_code}")
            yield HashtagStream(response, SSEDecoder(min(MAX_STREAM_LINE, self.max_bytes)))


class HashtagStream:
    def __init__(self, response: httpx.Response, decoder: SSEDecoder) -> None:
        self.response = response
        self.decoder = decoder

    async def events(self) -> AsyncIterator[SSEEvent]:
        async for chunk in self.response.aiter_bytes():
            for event in self.decoder.feed(chunk):
                yield event


async def _read_some(response: httpx.Response, limit: int) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= limit:
            break
    return bytes(body[:limit])


def _error_text(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    return error[:200] if isinstance(error, str) else ""


def _path(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _account_domain(claimed: Any, host: str) -> str:
    """The server's account domain: the one it names if that is its host or a parent
    of it (web on ``social.example.com``, handles ``@name@example.com``). Any other
    claim is ignored, so a server cannot pass its accounts off as another's."""
    if isinstance(claimed, str):
        domain = claimed.strip().lower()
        if host == domain or ("." in domain and host.endswith("." + domain)):
            return domain
    return host


def _streaming_base(value: Any) -> str | None:
    """``wss://streaming.example`` → ``https://streaming.example`` (SSE, same host)."""
    if not isinstance(value, str):
        return None
    for ws, http in (("wss://", "https://"), ("ws://", "http://")):
        if value.startswith(ws):
            value = http + value.removeprefix(ws)
    url = safe_url(value)
    return url.rstrip("/") if url else None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _seconds_until(value: str | None) -> float | None:
    """Mastodon's ``X-RateLimit-Reset`` is a timestamp (``2024-05-01T12:05:00.000000Z``)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (as_utc(moment) - utcnow()).total_seconds()


def _retry_after(value: str | None) -> float | None:
    """``Retry-After``: seconds, or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return (as_utc(moment) - utcnow()).total_seconds()
