"""The SSE connection: replay from the store, then read the hub's shared buffers.

A raw ASGI response (no per-frame generator, no middleware on the body): the bytes
of a frame are built once per channel and written as they are. One connection may
carry several channels; its ``Last-Event-ID`` is then a dot-separated cursor per
channel, in the order the channels were asked for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from backchannel.kit.raw_send import SCOPE_KEY as RAW_SEND
from backchannel.streams.frames import HEARTBEAT, Frame
from backchannel.streams.hub import ChannelBuffer, StreamHub, Waker

log = logging.getLogger(__name__)

#: Reads up to ``limit`` committed frames after a sequence number.
StoreReader = Callable[[str, int, int | None, int], Awaitable[list[Frame]]]
#: The current (last committed) sequence number of each channel.
SeqReader = Callable[[Sequence[str]], Awaitable[list[int]]]
#: Whether the viewer may still read the stream (asked about once a heartbeat).
Gate = Callable[[], Awaitable[bool]]
#: Made when the body starts; once it returns, the stream ends as if the client had
#: gone (e.g. its token was revoked). Cancelled when the stream ends first.
EndWhen = Callable[[], Awaitable[None]]

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]
REPLAY_BATCH = 500


def parse_last_event_id(value: str | None, count: int) -> list[int | None]:
    """Cursors from ``Last-Event-ID``; None where absent or unreadable (start live)."""
    if not value:
        return [None] * count
    parts = value.strip().split(".")
    if len(parts) != count or not all(p.isdigit() for p in parts):
        return [None] * count
    return [int(p) for p in parts]


class Connection:
    __slots__ = ("task", "sending_since")

    def __init__(self, task: asyncio.Task[object] | None) -> None:
        self.task = task
        self.sending_since = 0.0


class ConnectionRegistry:
    """Every open stream of this process, so one timer can beat for all of them and
    drop the ones whose socket stopped taking bytes."""

    def __init__(self) -> None:
        self.open: set[Connection] = set()
        #: A coarse clock, moved on by the heartbeat timer.
        self.now = time.monotonic()

    def drop_stuck(self, older_than: float) -> int:
        now = time.monotonic()
        dropped = 0
        for conn in list(self.open):
            if conn.sending_since and now - conn.sending_since > older_than and conn.task:
                conn.task.cancel()
                dropped += 1
        return dropped


class EventStream(Response):
    media_type = "text/event-stream"

    def __init__(
        self,
        *,
        hub: StreamHub,
        registry: ConnectionRegistry,
        channels: Sequence[str],
        cursors: Sequence[int | None],
        read_store: StoreReader,
        read_seqs: SeqReader,
        heartbeat: float,
        prelude: bytes = b"",
        still_allowed: Gate | None = None,
        end_when: EndWhen | None = None,
    ) -> None:
        super().__init__()
        self.hub = hub
        self.registry = registry
        self.channel_names = list(channels)
        self.start_cursors = list(cursors)
        self.read_store = read_store
        self.read_seqs = read_seqs
        self.heartbeat = heartbeat
        self.prelude = prelude
        self.still_allowed = still_allowed
        self.end_when = end_when
        self.multiplexed = len(self.channel_names) > 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        # The body goes past the middleware chain (see backchannel.kit.raw_send).
        send = scope.get(RAW_SEND, send)
        waker = Waker()
        buffers = self.hub.subscribe(self.channel_names, waker)
        conn = Connection(asyncio.current_task())
        self.registry.open.add(conn)
        closed = ended = False

        async def watch() -> None:
            nonlocal closed
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    closed = True
                    waker.ring()
                    return

        async def until_ended(end_when: EndWhen) -> None:
            nonlocal ended
            try:
                await end_when()
            except Exception:
                # Fail closed: a stream whose end condition broke is not known to be
                # allowed any more.
                log.exception("a stream's end condition failed; ending the stream")
            ended = True
            waker.ring()

        watcher = asyncio.create_task(watch())
        ender = asyncio.create_task(until_ended(self.end_when)) if self.end_when else None
        try:
            await self._stream(send, buffers, waker, conn, lambda: closed or ended)
        except (asyncio.CancelledError, OSError):
            # Dropped by us (stuck) or by the peer: either way this connection is over.
            # A cancellation from outside (shutdown) still propagates below.
            if not closed and not conn.sending_since:
                raise
            if conn.sending_since and not closed:
                # Cancelled while a send waited for a socket that stopped taking
                # bytes. The closing chunk would wait on that socket forever (and
                # then keep the connection alive): return without it, and the
                # server closes the connection.
                log.info("dropped a stream client whose socket stopped reading")
                return
        finally:
            watcher.cancel()
            if ender is not None:
                ender.cancel()
            self.registry.open.discard(conn)
            self.hub.unsubscribe(buffers, waker)
        try:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception:  # noqa: BLE001 - the peer is gone already
            pass

    async def _stream(
        self,
        send: Send,
        buffers: list[ChannelBuffer],
        waker: Waker,
        conn: Connection,
        is_closed: Callable[[], bool],
    ) -> None:
        missing = [i for i, c in enumerate(self.start_cursors) if c is None]
        cursors = list(self.start_cursors)
        if missing:
            seqs = await self.read_seqs([self.channel_names[i] for i in missing])
            for i, seq in zip(missing, seqs, strict=True):
                cursors[i] = seq
        pos: list[int] = [c or 0 for c in cursors]
        registry = self.registry
        last_write = last_check = registry.now

        async def write(body: bytes) -> None:
            nonlocal last_write
            # The registry's clock is coarse (it ticks with the heartbeat timer), which
            # is all the stuck check and the heartbeat need, and costs no call per frame.
            conn.sending_since = registry.now
            await send({"type": "http.response.body", "body": body, "more_body": True})
            conn.sending_since = 0.0
            last_write = registry.now

        # The direct path (see Waker.push): while this connection waits, caught up on
        # its one channel, the hub's delivery writes new frames itself. ``send`` is
        # stepped by hand: it finishes at once unless the socket's buffer is full; then
        # the write is left half done in ``stalled``, and this task finishes it.
        stalled: tuple[Generator[Any, None, None], Any] | None = None
        failure: BaseException | None = None

        def push(frames: list[Frame]) -> bool:
            nonlocal stalled, failure, last_write
            if frames[0].seq != pos[0] + 1:
                return False  # not the next frame for us: the loop sorts it out
            waker.push = None
            body = frames[0].single if len(frames) == 1 else b"".join(f.single for f in frames)
            if not body:  # only frames a view skips (streams.frames.Skipped)
                pos[0] = frames[-1].seq
                waker.push = push
                return True
            pending = send(
                {"type": "http.response.body", "body": body, "more_body": True}
            ).__await__()
            pos[0] = frames[-1].seq
            try:
                waiting = pending.send(None)
            except StopIteration:
                last_write = registry.now
                waker.push = push
                return True
            except BaseException as exc:  # noqa: BLE001 - handed to the task, raised there
                failure = exc
                return False
            conn.sending_since = registry.now
            stalled = (pending, waiting)
            return False

        if self.prelude:
            await write(self.prelude)
        # A channel resumed from Last-Event-ID replays from the store first: the shared
        # buffer may be fresh (nobody listened here while the client was away, or this
        # is another process) and know nothing of what was missed. A channel that
        # starts live is caught up already: we subscribed before reading its cursor.
        caught_up = [c is None for c in self.start_cursors]
        direct = not self.multiplexed
        while not is_closed():
            waker.push = None
            if stalled is not None:
                pending, waiting = stalled
                stalled = None
                await _finish(pending, waiting)
                conn.sending_since = 0.0
                last_write = registry.now
            if failure is not None:
                raise failure
            waker.event.clear()
            if self.still_allowed is not None and registry.now - last_check >= self.heartbeat:
                last_check = registry.now
                if not await self.still_allowed():
                    return  # e.g. the viewer of a moderation queue was suspended
            chunks: list[bytes] = []
            for i, buffer in enumerate(buffers):
                frames: list[Frame] | None = None
                if caught_up[i]:
                    frames = buffer.after(pos[i])
                    if frames is None:
                        if len(buffer.frames) >= buffer.capacity:
                            # Fell further behind than the shared buffer holds: a slow
                            # client is dropped, and resumes from the store.
                            log.info("dropping a slow stream client on %s", buffer.channel)
                            return
                        # The buffer restarted after a gap it could not fill, or
                        # started after our cursor: the store has what it lacks.
                        caught_up[i] = False
                if not caught_up[i]:
                    frames = await self.read_store(buffer.channel, pos[i], None, REPLAY_BATCH)
                    if len(frames) < REPLAY_BATCH:
                        caught_up[i] = True
                    waker.ring()  # more to replay, or the buffer to check
                if not frames:
                    continue
                if self.multiplexed:
                    for frame in frames:
                        pos[i] = frame.seq
                        if frame.multi:  # not one a view skips
                            chunks.append(frame.multi)
                            chunks.append(b"id: %s\n\n" % ".".join(map(str, pos)).encode())
                else:
                    pos[i] = frames[-1].seq
                    chunks.extend(f.single for f in frames)
            body = b"".join(chunks)
            if body:
                await write(body)
                continue
            if registry.now - last_write >= self.heartbeat * 0.9:
                await write(HEARTBEAT)
            if direct and caught_up[0] and not waker.event.is_set():
                waker.push = push
            await waker.event.wait()


async def _finish(pending: Generator[Any, None, None], waiting: Any) -> None:
    """Run a ``send`` coroutine that ``push`` started, from where it stopped to wait
    (for the socket to drain), as the event loop would have run it."""
    try:
        while True:
            if waiting is None:
                await asyncio.sleep(0)
            else:
                # What a task does with a future its coroutine yields: take the
                # "blocking" mark off (awaiting a marked future again is an error),
                # then wait for it.
                waiting._asyncio_future_blocking = False
                await waiting
            waiting = pending.send(None)
    except StopIteration:
        return
    except BaseException:
        pending.close()
        raise
