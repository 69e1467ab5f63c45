"""Streams' use cases: open a connection on channels, read the store, beat the heart."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.kit.tasks import cancel_and_wait
from backchannel.streams import repository as store
from backchannel.streams.frames import Frame
from backchannel.streams.hub import StreamHub
from backchannel.streams.sse import (
    ConnectionRegistry,
    EndWhen,
    EventStream,
    Gate,
    SeqReader,
    StoreReader,
)

log = logging.getLogger(__name__)


class StreamService:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        capacity: int,
        heartbeat: float,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.heartbeat = heartbeat
        self.capacity = capacity
        self.hub = StreamHub(self.read_gap, capacity=capacity)
        #: Hubs of frames made from this one's (``mastodon_api.status_frames``): their
        #: connections share the registry and the heartbeat.
        self.derived_hubs: list[StreamHub] = []
        self.registry = ConnectionRegistry()
        self._task: asyncio.Task[None] | None = None

    async def read_gap(self, channel: str, after: int, upto: int) -> list[Frame]:
        return await self.read_store(channel, after, upto, upto - after)

    async def read_store(
        self, channel: str, after: int, upto: int | None, limit: int
    ) -> list[Frame]:
        async with self._sessionmaker() as session:
            return await store.read_after(session, channel, after, upto=upto, limit=limit)

    async def read_seqs(self, channels: Sequence[str]) -> list[int]:
        async with self._sessionmaker() as session:
            return [await store.current_seq(session, c) for c in channels]

    def open(
        self,
        channels: Sequence[str],
        cursors: Sequence[int | None],
        prelude: bytes = b"",
        still_allowed: Gate | None = None,
        end_when: EndWhen | None = None,
        *,
        hub: StreamHub | None = None,
        read_store: StoreReader | None = None,
        read_seqs: SeqReader | None = None,
    ) -> EventStream:
        """A stream of ``channels``; by default of this hub and store, else of ``hub``
        (one of ``derived_hubs``) with its own readers."""
        return EventStream(
            hub=hub or self.hub,
            registry=self.registry,
            channels=channels,
            cursors=cursors,
            read_store=read_store or self.read_store,
            read_seqs=read_seqs or self.read_seqs,
            heartbeat=self.heartbeat,
            prelude=prelude,
            still_allowed=still_allowed,
            end_when=end_when,
        )

    async def start(self) -> None:
        self._task = asyncio.create_task(self._beat(), name="stream-heartbeat")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        for conn in list(self.registry.open):
            if conn.task is not None:
                conn.task.cancel()

    async def _beat(self) -> None:
        # One timer for every connection: wake them all so idle ones send a heartbeat,
        # and drop the ones stuck on a socket that stopped reading.
        while True:
            await asyncio.sleep(self.heartbeat / 2)
            self.registry.now = time.monotonic()
            self.hub.ring_all()
            for hub in self.derived_hubs:
                hub.ring_all()
            dropped = self.registry.drop_stuck(self.heartbeat * 2)
            if dropped:
                log.info("dropped %d stuck stream clients", dropped)
