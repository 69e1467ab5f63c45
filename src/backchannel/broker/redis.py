"""Redis pub/sub between processes. Frames are committed (and persisted in the
database) before they are published, so a message Redis loses is a gap the hub
fills from the store, never a lost post."""

from __future__ import annotations

import asyncio
import logging
import struct

import orjson
import redis.asyncio as aioredis

from backchannel.broker.base import FrameSink
from backchannel.kit.tasks import cancel_and_wait
from backchannel.streams.frames import Frame

log = logging.getLogger(__name__)


def pack(frames: list[Frame]) -> bytes:
    # The data is JSON already: a length-prefixed binary envelope avoids parsing
    # and re-serialising it on every process.
    parts = []
    for f in frames:
        head = orjson.dumps([f.channel, f.seq, f.event])
        parts.append(struct.pack("!II", len(head), len(f.data)) + head + f.data)
    return b"".join(parts)


def unpack(payload: bytes) -> list[Frame]:
    frames = []
    offset = 0
    view = memoryview(payload)
    while offset < len(payload):
        head_len, data_len = struct.unpack_from("!II", payload, offset)
        offset += 8
        channel, seq, event = orjson.loads(view[offset : offset + head_len])
        offset += head_len
        data = bytes(view[offset : offset + data_len])
        offset += data_len
        frames.append(Frame(channel, seq, event, data))
    return frames


class RedisBroker:
    def __init__(self, url: str, prefix: str) -> None:
        self._url = url
        self._topic = f"{prefix}:frames"
        self._redis: aioredis.Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self, sink: FrameSink) -> None:
        self._redis = aioredis.from_url(self._url)
        await self._redis.ping()
        self._task = asyncio.create_task(self._listen(sink), name="redis-broker")
        await asyncio.wait_for(self._ready.wait(), 10)

    async def _listen(self, sink: FrameSink) -> None:
        assert self._redis is not None
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._topic)
                    self._ready.set()
                    async for message in pubsub.listen():
                        if message["type"] != "message":
                            continue
                        try:
                            await sink(unpack(message["data"]))
                        except Exception:
                            log.exception("could not deliver frames from Redis")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Redis subscription lost; reconnecting")
                await asyncio.sleep(1)

    async def publish(self, frames: list[Frame]) -> None:
        if frames and self._redis is not None:
            await self._redis.publish(self._topic, pack(frames))

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        if self._redis is not None:
            await self._redis.aclose()
