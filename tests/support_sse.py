"""A small Server-Sent Events client for tests (importable as ``support_sse``).

It reads a stream in the background with httpx and parses it into frames, so a test
can wait for what it expects up to a deadline (polling, never a bare long sleep),
drop the connection, and reconnect with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class SSEFrame:
    id: str | None
    event: str
    data: str

    def json(self) -> Any:
        return orjson.loads(self.data)

    @property
    def post_id(self) -> str:
        """The post a frame is about: ``data.id`` (wall, tag, account), ``data.post.id``
        (queue item) or ``data.post_id`` (decision), inside ``data.data`` on a
        multiplexed stream."""
        data = self.json()
        if isinstance(data, dict) and "channel" in data and "seq" in data:
            data = data["data"]
        if "post" in data:  # a moderation queue item
            data = data["post"]
        return str(data["id"] if "id" in data else data.get("post_id"))


class SSEParser:
    """Incremental SSE parser: feed bytes, collect frames and comment lines."""

    def __init__(self) -> None:
        self._buffer = b""
        self._id: str | None = None
        self._event = ""
        self._data: list[str] = []
        self._has_field = False
        self.frames: list[SSEFrame] = []
        self.comments: list[str] = []
        #: The last id seen (what a browser sends as ``Last-Event-ID``).
        self.last_id: str | None = None

    def feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        while True:
            line, sep, rest = self._buffer.partition(b"\n")
            if not sep:
                return
            self._buffer = rest
            self._line(line.rstrip(b"\r").decode())

    def _line(self, line: str) -> None:
        if line == "":
            if self._data or self._has_field:
                self.frames.append(
                    SSEFrame(self._id, self._event or "message", "\n".join(self._data))
                )
            self._event, self._data, self._has_field, self._id = "", [], False, None
            return
        if line.startswith(":"):
            self.comments.append(line[1:].strip())
            return
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        self._has_field = True
        if name == "id":
            self._id = value
            self.last_id = value
        elif name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)


class SSEClient:
    """One SSE connection, read in the background. ``async with`` opens and closes it."""

    def __init__(
        self,
        base_url: str,
        path: str,
        *,
        last_event_id: str | None = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url
        self.path = path
        self.params = params
        self.headers = {"Accept": "text/event-stream", **(headers or {})}
        if last_event_id is not None:
            self.headers["Last-Event-ID"] = last_event_id
        self.parser = SSEParser()
        self.status: int | None = None
        self.ended = asyncio.Event()
        self._opened = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None

    @property
    def frames(self) -> list[SSEFrame]:
        return self.parser.frames

    @property
    def comments(self) -> list[str]:
        return self.parser.comments

    @property
    def last_id(self) -> str | None:
        return self.parser.last_id

    def events(self) -> list[tuple[str, str]]:
        """(event, post id) of each frame: what a wall would do, in order."""
        return [(f.event, f.post_id) for f in self.frames]

    async def __aenter__(self) -> SSEClient:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._client = httpx.AsyncClient(
            base_url=self.base_url, timeout=httpx.Timeout(timeout, read=None)
        )
        self._task = asyncio.create_task(self._read())
        await asyncio.wait_for(self._opened.wait(), timeout)
        if self.error is not None:
            raise self.error
        assert self.status == 200, f"stream {self.path} answered {self.status}"
        # The server sends a comment at once; after it, the subscription is in place.
        await self.wait_until(lambda: bool(self.comments), timeout, what="the opening comment")

    async def _read(self) -> None:
        assert self._client is not None
        try:
            async with self._client.stream(
                "GET", self.path, params=self.params, headers=self.headers
            ) as response:
                self.status = response.status_code
                self._opened.set()
                if response.status_code != 200:
                    await response.aread()
                    return
                async for chunk in response.aiter_raw():
                    self.parser.feed(chunk)
        except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
            self.error = exc
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self._opened.set()
            self.ended.set()

    async def close(self) -> None:
        """Drop the connection (as a network failure or a closed tab would)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        if self._client is not None:
            await self._client.aclose()

    async def wait_until(
        self, condition: Callable[[], bool], timeout: float = DEFAULT_TIMEOUT, what: str = ""
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.ended.is_set() and not condition():
                raise AssertionError(
                    f"the stream ended while waiting for {what or 'a condition'}"
                    f" (error: {self.error!r}); {self._summary()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what or 'a condition'};"
                    f" {self._summary()}"
                )
            await asyncio.sleep(0.01)

    def _summary(self) -> str:
        shown = [(f.id, f.event, f.data[:60]) for f in self.frames[-10:]]
        return f"{len(self.frames)} frames, the last ones: {shown!r}"

    async def wait_frames(self, count: int, timeout: float = DEFAULT_TIMEOUT) -> list[SSEFrame]:
        """Wait until at least ``count`` frames have arrived; return them all."""
        await self.wait_until(lambda: len(self.frames) >= count, timeout, f"{count} frames")
        return list(self.frames)


async def poll(
    condition: Callable[[], bool], timeout: float = DEFAULT_TIMEOUT, what: str = ""
) -> None:
    """Wait for ``condition`` up to a deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or 'a condition'}")
        await asyncio.sleep(0.01)


# --- Setting up an event and posting through the API ------------------------------


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_event(
    http: httpx.AsyncClient, token: str, slug: str, tag: str, **extra: Any
) -> dict[str, Any]:
    body = {
        "name": f"Event {slug}",
        "slug": slug,
        "primary_tag": tag,
        "starts_at": "2025-01-01T09:00:00Z",
        "ends_at": "2030-01-01T18:00:00Z",
        **extra,
    }
    response = await http.post("/api/events", json=body, headers=auth(token))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def post(http: httpx.AsyncClient, token: str, status: str) -> str:
    """Post through the native API; returns the new post's id."""
    response = await http.post("/api/posts", json={"status": status}, headers=auth(token))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def decide(http: httpx.AsyncClient, token: str, slug: str, post_id: str, action: str) -> None:
    """approve, hide, pin or unpin a post of an event (moderators)."""
    response = await http.post(f"/api/events/{slug}/posts/{post_id}/{action}", headers=auth(token))
    assert response.status_code == 200, response.text
