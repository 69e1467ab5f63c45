from __future__ import annotations

from backchannel.broker.base import FrameSink
from backchannel.streams.frames import Frame


class MemoryBroker:
    """One process: publishing is handing the frames to the hub."""

    def __init__(self) -> None:
        self._sink: FrameSink | None = None

    async def start(self, sink: FrameSink) -> None:
        self._sink = sink

    async def publish(self, frames: list[Frame]) -> None:
        if self._sink is not None and frames:
            await self._sink(frames)

    async def stop(self) -> None:
        self._sink = None
