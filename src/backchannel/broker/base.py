from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from backchannel.streams.frames import Frame

#: Where a broker hands the frames it receives (the process's StreamHub).
FrameSink = Callable[[list[Frame]], Awaitable[None]]


class Broker(Protocol):
    """Carries frames that are already committed (and so already have their sequence
    numbers) from the process that wrote them to every process's hub."""

    async def start(self, sink: FrameSink) -> None: ...

    async def publish(self, frames: list[Frame]) -> None: ...

    async def stop(self) -> None: ...
