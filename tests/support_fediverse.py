"""A fake Mastodon server for the Mastodon connector's tests (``support_fediverse``).

It speaks the wire formats a real one does: Status JSON built from the samples in
``tests/data/mastodon/``; the tag timeline with ``min_id``/``max_id``/``since_id``/
``limit``, newest first, and ``Link`` headers; ``X-RateLimit-*`` headers and 429s past
the limit; ``/api/v2/instance`` naming its account domain and streaming URL; and SSE
hashtag streams (``event:``/``data:`` frames, ``:`` heartbeats) that need a user
token. A Starlette app on uvicorn on 127.0.0.1; one per test module, ``reset()``
between tests. It logs every request so tests can count them.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from backchannel.connectors.base import Runtime, Spec
from backchannel.connectors.mastodon import server_url
from support import free_port
from support_connectors import FIXTURES

#: A user's access token (streams and sign-in-only timelines take it) …
USER_TOKEN = "user-token-with-read-statuses"
#: … an app's token (no user: a sign-in-only timeline answers 422) …
APP_TOKEN = "app-token-without-user"
#: Ids cross from 17 to 18 digits after ten statuses: compared as strings they would
#: go backwards.
FIRST_ID = 99_999_999_999_999_990
SAMPLES = FIXTURES / "mastodon"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((SAMPLES / name).read_bytes())
    return data


def id_key(status_id: str) -> tuple[int, str]:
    return (len(status_id), status_id)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Logged:
    at: float
    path: str
    params: dict[str, str]
    token: str | None
    status: int


@dataclass
class _Entry:
    id: str
    tags: set[str]
    body: Any


@dataclass
class _Stream:
    tag: str
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)


class FakeMastodon:
    def __init__(self, first_id: int = FIRST_ID) -> None:
        self.first_id = first_id
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.domain = f"127.0.0.1:{self.port}"
        self._streams: list[_Stream] = []
        self.reset()
        self.app = Starlette(
            routes=[
                Route("/api/v2/instance", self._instance),
                Route("/api/v1/timelines/tag/{hashtag}", self._tag_timeline),
                Route("/api/v1/streaming/hashtag", self._hashtag_stream),
                Route("/api/v1/streaming/health", self._health),
            ]
        )

    def reset(self) -> None:
        self.drop_streams()
        self._entries: dict[str, _Entry] = {}
        self._next_id = self.first_id
        self.user_tokens = {USER_TOKEN}
        self.app_tokens = {APP_TOKEN}
        #: "public", or "authenticated" (Mastodon 4.5's sign-in-only tag timelines).
        self.tag_timelines = "public"
        #: What an anonymous request to a sign-in-only timeline gets (401 or 422).
        self.sign_in_status = 422
        #: Refuse every stream with this status (a server with streaming turned off).
        self.stream_refusal: int | None = None
        #: Requests allowed per ``rate_window`` seconds (None: no limit).
        self.rate_limit: int | None = None
        self.rate_window = 300.0
        self._window_origin = time.time()
        self._window_counts: dict[int, int] = {}
        #: Retry-After values for the next timeline requests: each gets a 429.
        self.forced_429: list[int] = []
        self.throttled = 0
        self.heartbeat_seconds = 0.2
        self.requests: list[Logged] = []

    # -- what tests do ---------------------------------------------------------------

    def post(
        self,
        text: str = "Hello",
        tags: Iterable[str] = ("fedicamp",),
        *,
        template: str = "status_local_media.json",
        username: str = "ada",
        stream: bool = True,
        **fields: Any,
    ) -> dict[str, Any]:
        """A new public status by a local account; on the timeline and the streams."""
        tags = list(tags)
        status_id = self._new_id()
        status = sample(template)
        account = status["account"]
        account.update(
            id=str(abs(hash(username)) % 10**17),
            username=username,
            acct=username,
            url=f"{self.url}/@{username}",
        )
        if "uri" in account:
            account["uri"] = f"{self.url}/users/{username}"
        status.update(
            id=status_id,
            uri=f"{self.url}/users/{username}/statuses/{status_id}",
            url=f"{self.url}/@{username}/{status_id}",
            created_at=_now_iso(),
            edited_at=None,
            content=self._html(text, tags),
            tags=[{"name": t.lower(), "url": f"{self.url}/tags/{t.lower()}"} for t in tags],
        )
        status.update(fields)
        self._add(status_id, tags, status, "update" if stream else None)
        return status

    def receive(self, status: dict[str, Any], origin: FakeMastodon) -> dict[str, Any]:
        """``status`` of another server as this one knows it: its own id, the
        author's acct with the origin's domain, the same uri."""
        copied = copy.deepcopy(status)
        copied["id"] = self._new_id()
        account = copied["account"]
        if "@" not in account["acct"]:
            account["acct"] = f"{account['acct']}@{origin.domain}"
        account["id"] = str(int(account["id"]) + 7)
        tags = [t["name"] for t in copied["tags"]]
        self._add(copied["id"], tags, copied, "update")
        return copied

    def add_raw(self, make: Callable[[str], Any], tags: Iterable[str] = ("fedicamp",)) -> str:
        """Put whatever ``make(new_id)`` returns on the tag timeline (bad statuses)."""
        status_id = self._new_id()
        self._add(status_id, list(tags), make(status_id), None)
        return status_id

    def edit(self, status_id: str, text: str) -> dict[str, Any]:
        entry = self._entries[status_id]
        status = entry.body
        status["content"] = self._html(text, sorted(entry.tags))
        status["edited_at"] = _now_iso()
        self._publish("status.update", orjson.dumps(status).decode(), entry.tags)
        return dict(status)

    def delete(self, status_id: str) -> None:
        entry = self._entries.pop(status_id)
        self._publish("delete", status_id, entry.tags)

    def push(self, tag: str, event: str, data: str) -> None:
        """Send a raw frame down the streams of ``tag``."""
        self._publish(event, data, {tag})

    def drop_streams(self) -> None:
        """End every open stream, as a restarting streaming server does."""
        for stream in self._streams:
            stream.queue.put_nowait(None)
        self._streams = []

    def open_streams(self, tag: str) -> int:
        return sum(1 for s in self._streams if s.tag == tag)

    def logged(self, path_part: str) -> list[Logged]:
        return [r for r in self.requests if path_part in r.path]

    def per_window(self) -> dict[int, int]:
        """Rate-limited requests per rate window (index from the origin)."""
        return dict(self._window_counts)

    # -- internals -------------------------------------------------------------------

    def _new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def _html(self, text: str, tags: Iterable[str]) -> str:
        links = " ".join(
            f'<a href="{self.url}/tags/{t.lower()}" class="mention hashtag" rel="tag">'
            f"#<span>{t}</span></a>"
            for t in tags
        )
        return f"<p>{text} {links}</p>"

    def _add(self, status_id: str, tags: list[str], body: Any, event: str | None) -> None:
        lowered = {t.lower() for t in tags}
        self._entries[status_id] = _Entry(status_id, lowered, body)
        if event is not None:
            self._publish(event, orjson.dumps(body).decode(), lowered)

    def _publish(self, event: str, payload: str, tags: set[str]) -> None:
        frame = f"event: {event}\ndata: {payload}\n\n".encode()
        for stream in self._streams:
            if stream.tag in tags:
                stream.queue.put_nowait(frame)

    def _token(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        return header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None

    def _log(self, request: Request, status: int) -> None:
        self.requests.append(
            Logged(
                time.monotonic(),
                request.url.path,
                dict(request.query_params),
                self._token(request),
                status,
            )
        )

    def _rate_limited(self, request: Request) -> Response | None:
        """Rack::Attack as Mastodon sets it up: fixed periods, headers on every answer."""
        if self.rate_limit is None:
            return None
        now = time.time()
        window = math.floor((now - self._window_origin) / self.rate_window)
        reset = self._window_origin + (window + 1) * self.rate_window
        count = self._window_counts.get(window, 0) + 1
        self._window_counts[window] = count
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - count)),
            "X-RateLimit-Reset": datetime.fromtimestamp(reset, UTC)
            .isoformat(timespec="microseconds")
            .replace("+00:00", "Z"),
        }
        request.state.rate_headers = headers
        if count > self.rate_limit:
            self.throttled += 1
            return JSONResponse({"error": "Too many requests"}, 429, headers=headers)
        return None

    def _json(
        self, request: Request, body: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        self._log(request, status)
        headers = {**(headers or {}), **getattr(request.state, "rate_headers", {})}
        return Response(orjson.dumps(body), status, headers, media_type="application/json")

    # -- endpoints -------------------------------------------------------------------

    async def _instance(self, request: Request) -> Response:
        throttled = self._rate_limited(request)
        if throttled is not None:
            self._log(request, 429)
            return throttled
        return self._json(
            request,
            {
                "domain": self.domain,
                "title": "Fake Mastodon",
                "version": "4.5.0",
                "configuration": {"urls": {"streaming": f"ws://127.0.0.1:{self.port}"}},
            },
        )

    async def _tag_timeline(self, request: Request) -> Response:
        if self.forced_429:
            retry_after = self.forced_429.pop(0)
            self._log(request, 429)
            self.throttled += 1
            return JSONResponse(
                {"error": "Too many requests"}, 429, headers={"Retry-After": str(retry_after)}
            )
        throttled = self._rate_limited(request)
        if throttled is not None:
            self._log(request, 429)
            return throttled
        token = self._token(request)
        if token is not None and token not in self.user_tokens | self.app_tokens:
            return self._json(request, {"error": "The access token is invalid"}, 401)
        if self.tag_timelines == "authenticated" and token not in self.user_tokens:
            if token is None and self.sign_in_status == 401:
                return self._json(request, {"error": "The access token is invalid"}, 401)
            error = "This method requires an authenticated user"
            return self._json(request, {"error": error}, self.sign_in_status)
        tag = request.path_params["hashtag"].lower()
        params = request.query_params
        limit = min(int(params.get("limit", "20")), 40)
        entries = sorted(
            (e for e in self._entries.values() if tag in e.tags), key=lambda e: id_key(e.id)
        )
        if "max_id" in params:
            entries = [e for e in entries if id_key(e.id) < id_key(params["max_id"])]
        if "since_id" in params:
            entries = [e for e in entries if id_key(e.id) > id_key(params["since_id"])]
        if "min_id" in params:
            entries = [e for e in entries if id_key(e.id) > id_key(params["min_id"])][:limit]
            entries.reverse()
        else:
            entries = list(reversed(entries))[:limit]
        headers: dict[str, str] = {}
        if entries:
            base = f"{self.url}/api/v1/timelines/tag/{tag}"
            headers["Link"] = (
                f'<{base}?max_id={entries[-1].id}>; rel="next", '
                f'<{base}?min_id={entries[0].id}>; rel="prev"'
            )
        return self._json(request, [e.body for e in entries], headers=headers)

    async def _health(self, request: Request) -> Response:
        return PlainTextResponse("OK")

    async def _hashtag_stream(self, request: Request) -> Response:
        token = self._token(request)
        if self.stream_refusal is not None:
            return self._json(request, {"error": "Streaming is not available"}, self.stream_refusal)
        if token is None:
            return self._json(request, {"error": "Missing access token"}, 401)
        if token not in self.user_tokens:
            return self._json(request, {"error": "Invalid access token"}, 401)
        tag = request.query_params.get("tag", "").lower()
        if not tag:
            return self._json(request, {"error": "Missing tag name parameter"}, 400)
        self._log(request, 200)
        stream = _Stream(tag)
        self._streams.append(stream)
        return StreamingResponse(
            self._frames(stream),
            media_type="text/event-stream",
            headers={"Cache-Control": "private, no-store"},
        )

    async def _frames(self, stream: _Stream) -> AsyncIterator[bytes]:
        try:
            yield b":)\n"
            while True:
                try:
                    frame = await asyncio.wait_for(stream.queue.get(), self.heartbeat_seconds)
                except TimeoutError:
                    yield b":thump\n"
                    continue
                if frame is None:
                    return
                yield frame
        finally:
            if stream in self._streams:
                self._streams.remove(stream)


@asynccontextmanager
async def serve_fake(first_id: int = FIRST_ID) -> AsyncIterator[FakeMastodon]:
    """A ``FakeMastodon`` on uvicorn on 127.0.0.1 for the block."""
    fake = FakeMastodon(first_id)
    config = uvicorn.Config(
        fake.app, host="127.0.0.1", port=fake.port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done():
            task.result()
        if time.monotonic() > deadline:
            raise TimeoutError("the fake Mastodon server did not start")
        await asyncio.sleep(0.02)
    try:
        yield fake
    finally:
        fake.drop_streams()
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def spec_for(fake: FakeMastodon, tags: Iterable[str] = ("fedicamp",), **options: Any) -> Spec:
    """The spec the supervisor would give a runtime for ``fake``."""
    server = server_url(fake.url)
    return Spec(
        key=f"mastodon:{server}",
        kind="mastodon",
        target=server,
        connector_ids=(1,),
        tags=frozenset(tags),
        options=options,
    )


@asynccontextmanager
async def running(runtime: Runtime) -> AsyncIterator[Runtime]:
    """``runtime.run()`` in a task for the block; what made it fail surfaces here."""
    task = asyncio.create_task(runtime.run())
    try:
        yield runtime
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
