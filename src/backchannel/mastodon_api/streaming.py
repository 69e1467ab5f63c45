"""Mastodon streaming: SSE at ``/api/v1/streaming/…`` and a WebSocket at
``/api/v1/streaming`` with subscribe and unsubscribe messages.

Both read the Mastodon channels that ``publish`` frames once per post, as
``status_frames`` renders them once per process (notifications come rendered). SSE
sends those frames' bytes as they are (a shared hub, ``Last-Event-ID`` resumption);
the WebSocket text of a frame is built once and shared by every connection.
Since Mastodon 4.2 the public and hashtag streams need a user's token; so here.
A stream ends (SSE) or closes (WebSocket, code 4001) once its token is revoked or its
account suspended: see ``token_watch``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Annotated, Protocol

import orjson
from fastapi import APIRouter, Header, Request, WebSocket
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocketDisconnect

from backchannel.deps import Services, ServicesDep
from backchannel.errors import AppError, BadRequest
from backchannel.mastodon_api import notify, publish
from backchannel.mastodon_api.auth import Caller, UserReadStatuses, account_of, resolve
from backchannel.mastodon_api.status_frames import StatusFrames
from backchannel.mastodon_api.token_watch import token_watch
from backchannel.posts.hashtags import normalize_tag
from backchannel.streams.frames import Frame, Skipped
from backchannel.streams.hub import ChannelBuffer, StreamHub, Waker
from backchannel.streams.service import StreamService
from backchannel.streams.sse import EventStream, parse_last_event_id

log = logging.getLogger(__name__)
router = APIRouter(tags=["mastodon"])
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID")]
MAX_SUBSCRIPTIONS = 50
REPLAY_BATCH = 500
#: The close code when the token stops working: the 4xxx range is the application's,
#: and 4001 is what the handshake already answers a bad token with, so a client
#: treats both alike (sign in again) rather than as a malformed request (1008).
TOKEN_GONE = 4001


def channel_for(stream: str, tag: str | None, caller: Caller) -> tuple[str, list[str]]:
    """The channel of a Mastodon stream name, and the ``stream`` array its frames carry."""
    kind = stream.removesuffix(":media")
    if kind in ("public", "public:local", "public:remote"):
        return publish.public(kind.partition(":")[2]), [kind]
    if kind in ("hashtag", "hashtag:local"):
        name = normalize_tag(tag or "")
        if name is None:
            raise BadRequest("No tag for stream provided")
        return publish.hashtag(name, local=kind.endswith(":local")), [kind, tag or name]
    if kind == "user":
        return publish.user(account_of(caller).id), ["user"]
    if kind == "user:notification":
        return notify.channel(account_of(caller).id), ["user:notification"]
    raise BadRequest("Unknown stream type")


def _streams(services: Services) -> StreamService:
    service: StreamService = services.extra["streams"]
    return service


class _FrameSource(Protocol):
    """Where a stream's frames come from: live, from the store, its current number."""

    @property
    def hub(self) -> StreamHub: ...

    async def read_store(
        self, channel: str, after: int, upto: int | None, limit: int
    ) -> list[Frame]: ...

    async def read_seqs(self, channels: Sequence[str]) -> list[int]: ...


def _source(services: Services, stream: str) -> _FrameSource:
    """Notifications are framed rendered; posts are rendered by ``status_frames``."""
    if stream == "user:notification":
        return _streams(services)
    found: StatusFrames = services.extra["status_frames"]
    return found


@router.get("/api/v1/streaming/health")
async def health() -> PlainTextResponse:
    return PlainTextResponse("OK")


async def _sse(
    services: Services, stream: str, tag: str | None, caller: Caller, resume: str | None
) -> EventStream:
    channel, _ = channel_for(stream, tag, caller)
    cursors = parse_last_event_id(resume, 1)
    token = caller.token_hash
    assert token is not None  # user() guarantees it
    watch = token_watch(services)
    source = _source(services, stream)
    return _streams(services).open(
        [channel],
        cursors,
        prelude=b":)\n\n",
        end_when=lambda: watch.until_invalid(token),
        hub=source.hub,
        read_store=source.read_store,
        read_seqs=source.read_seqs,
    )


@router.get("/api/v1/streaming/public")
async def public(
    caller: UserReadStatuses, services: ServicesDep, last_event_id: LastEventId = None
) -> EventStream:
    return await _sse(services, "public", None, caller, last_event_id)


@router.get("/api/v1/streaming/public/local")
async def public_local(
    caller: UserReadStatuses, services: ServicesDep, last_event_id: LastEventId = None
) -> EventStream:
    return await _sse(services, "public:local", None, caller, last_event_id)


@router.get("/api/v1/streaming/public/remote")
async def public_remote(
    caller: UserReadStatuses, services: ServicesDep, last_event_id: LastEventId = None
) -> EventStream:
    return await _sse(services, "public:remote", None, caller, last_event_id)


@router.get("/api/v1/streaming/hashtag")
async def hashtag(
    request: Request,
    caller: UserReadStatuses,
    services: ServicesDep,
    last_event_id: LastEventId = None,
) -> EventStream:
    return await _sse(services, "hashtag", request.query_params.get("tag"), caller, last_event_id)


@router.get("/api/v1/streaming/hashtag/local")
async def hashtag_local(
    request: Request,
    caller: UserReadStatuses,
    services: ServicesDep,
    last_event_id: LastEventId = None,
) -> EventStream:
    tag = request.query_params.get("tag")
    return await _sse(services, "hashtag:local", tag, caller, last_event_id)


@router.get("/api/v1/streaming/user")
async def user_stream(
    caller: UserReadStatuses, services: ServicesDep, last_event_id: LastEventId = None
) -> EventStream:
    return await _sse(services, "user", None, caller, last_event_id)


@router.get("/api/v1/streaming/user/notification")
async def notifications(
    caller: UserReadStatuses, services: ServicesDep, last_event_id: LastEventId = None
) -> EventStream:
    return await _sse(services, "user:notification", None, caller, last_event_id)


# --- WebSocket ---------------------------------------------------------------------


class SocketFrames:
    """The WebSocket text of each frame, built once for all connections (bounded)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._texts: OrderedDict[tuple[str, int], str] = OrderedDict()

    def text(self, frame: Frame, stream: list[str]) -> str:
        key = (frame.channel, frame.seq)
        found = self._texts.get(key)
        if found is None:
            payload = frame.data.decode()
            found = orjson.dumps(
                {"stream": stream, "event": frame.event, "payload": payload}
            ).decode()
            self._texts[key] = found
            if len(self._texts) > self.size:
                self._texts.popitem(last=False)
        return found


class _Subscription:
    __slots__ = ("stream", "source", "buffer", "pos", "caught_up")

    def __init__(
        self, stream: list[str], source: _FrameSource, buffer: ChannelBuffer, pos: int
    ) -> None:
        self.stream = stream
        self.source = source
        self.buffer = buffer
        self.pos = pos
        self.caught_up = True


def _socket_frames(services: Services) -> SocketFrames:
    frames = services.extra.get("mastodon_socket_frames")
    if not isinstance(frames, SocketFrames):
        frames = services.extra["mastodon_socket_frames"] = SocketFrames()
    return frames


def _socket_token(websocket: WebSocket) -> str | None:
    header = websocket.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    protocol = websocket.headers.get("sec-websocket-protocol")
    return websocket.query_params.get("access_token") or protocol or None


class MastodonSocket:
    def __init__(self, websocket: WebSocket, services: Services, caller: Caller) -> None:
        self.ws = websocket
        self.services = services
        self.frames = _socket_frames(services)
        self.caller = caller
        self.waker = Waker()
        self.subs: dict[str, _Subscription] = {}

    async def subscribe(self, stream: str, tag: str | None) -> None:
        channel, names = channel_for(stream, tag, self.caller)
        if channel in self.subs:
            return
        if len(self.subs) >= MAX_SUBSCRIPTIONS:
            raise BadRequest("Too many subscriptions")
        source = _source(self.services, stream.removesuffix(":media"))
        [buffer] = source.hub.subscribe([channel], self.waker)
        [pos] = await source.read_seqs([channel])
        self.subs[channel] = _Subscription(names, source, buffer, pos)

    def unsubscribe(self, stream: str, tag: str | None) -> None:
        channel, _ = channel_for(stream, tag, self.caller)
        sub = self.subs.pop(channel, None)
        if sub is not None:
            sub.source.hub.unsubscribe([sub.buffer], self.waker)

    async def receive(self) -> None:
        while True:
            message = await self.ws.receive_text()
            try:
                data = orjson.loads(message)
                if not isinstance(data, dict):
                    raise BadRequest("Malformed message")
                stream, tag = str(data.get("stream", "")), data.get("tag")
                tag = str(tag) if tag is not None else None
                if data.get("type") == "subscribe":
                    await self.subscribe(stream, tag)
                elif data.get("type") == "unsubscribe":
                    self.unsubscribe(stream, tag)
                else:
                    raise BadRequest("Unknown message type")
            except (orjson.JSONDecodeError, AppError) as exc:
                error = exc.message if isinstance(exc, AppError) else "Malformed message"
                status = exc.status if isinstance(exc, AppError) else 400
                await self.ws.send_text(orjson.dumps({"error": error, "status": status}).decode())
            self.waker.ring()

    async def send(self) -> None:
        while True:
            self.waker.event.clear()
            texts: list[str] = []
            for sub in list(self.subs.values()):
                frames = sub.buffer.after(sub.pos) if sub.caught_up else None
                if frames is None:
                    if sub.caught_up and len(sub.buffer.frames) >= sub.buffer.capacity:
                        return  # too slow: dropped, as SSE clients are
                    frames = await sub.source.read_store(
                        sub.buffer.channel, sub.pos, None, REPLAY_BATCH
                    )
                    sub.caught_up = len(frames) < REPLAY_BATCH
                    self.waker.ring()
                if frames:
                    sub.pos = frames[-1].seq
                    texts.extend(
                        self.frames.text(f, sub.stream)
                        for f in frames
                        if not isinstance(f, Skipped)
                    )
            for text in texts:
                await self.ws.send_text(text)
            if not texts:
                await self.waker.event.wait()

    async def run(self, first: tuple[str, str | None] | None) -> bool:
        """Serve the connection until either side ends it; False if its token went."""
        if first is not None:
            await self.subscribe(*first)
        token = self.caller.token_hash
        assert token is not None  # the handshake resolved it
        revoked = asyncio.create_task(token_watch(self.services).until_invalid(token))
        tasks = {asyncio.create_task(self.receive()), asyncio.create_task(self.send()), revoked}
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            return not revoked.done()
        finally:
            for task in tasks:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, WebSocketDisconnect, OSError):
                    pass  # closed by either side
                except Exception:
                    log.exception("a Mastodon WebSocket stream failed")
            for sub in self.subs.values():
                sub.source.hub.unsubscribe([sub.buffer], self.waker)
            self.subs.clear()


@router.websocket("/api/v1/streaming")
async def websocket_stream(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    token = _socket_token(websocket)
    try:
        caller = await resolve(services, token)
    except AppError:
        await websocket.close(code=4001)
        return
    if caller.account is None or not caller.allows("read:statuses"):
        await websocket.close(code=4001)
        return
    protocol = websocket.headers.get("sec-websocket-protocol")
    await websocket.accept(subprotocol=protocol or None)
    stream = websocket.query_params.get("stream")
    socket = MastodonSocket(websocket, services, caller)
    try:
        first = (stream, websocket.query_params.get("tag")) if stream else None
        allowed = await socket.run(first)
    except AppError as exc:
        await websocket.send_text(
            orjson.dumps({"error": exc.message, "status": exc.status}).decode()
        )
        await websocket.close(code=1008)
        return
    with contextlib.suppress(RuntimeError):  # closed by the peer already
        await websocket.close(code=1000 if allowed else TOKEN_GONE)
