"""The in-process fan-out: one shared, bounded buffer of framed events per channel.

Subscribers read the buffer at their own pace (no per-client queue, no per-client
JSON); a publish only appends and wakes the subscribers. A subscriber that falls
further behind than the buffer holds is dropped and resumes with ``Last-Event-ID``.

Frames reach the hub from the broker after the commit that holds them. They may
arrive out of order (two writers, two processes); a gap is filled from the store,
where every lower sequence number of the channel is already committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, KeysView

from backchannel.streams.frames import Frame

log = logging.getLogger(__name__)

#: Reads committed frames ``after < seq <= upto`` of a channel from the store.
GapReader = Callable[[str, int, int], Awaitable[list[Frame]]]


#: Writes a channel's new frames to an idle subscriber at once; False: ring it instead.
Push = Callable[[list[Frame]], bool]


class Waker:
    """A subscriber's doorbell: any of its channels rings it.

    An idle, caught-up subscriber may also leave a ``push``: new frames are then
    written to it from the delivery itself, with no task to wake and no loop to run
    per client (at a thousand clients a wall's frame costs that a thousand times).
    """

    __slots__ = ("event", "push")

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.push: Push | None = None

    def ring(self) -> None:
        self.event.set()


class ChannelBuffer:
    __slots__ = ("channel", "frames", "last_seq", "wakers", "capacity")

    def __init__(self, channel: str, capacity: int) -> None:
        self.channel = channel
        self.frames: deque[Frame] = deque(maxlen=capacity)
        #: Highest contiguous sequence number seen, 0 until the first frame.
        self.last_seq = 0
        self.wakers: set[Waker] = set()
        self.capacity = capacity

    @property
    def first_seq(self) -> int:
        return self.frames[0].seq if self.frames else self.last_seq + 1

    def after(self, cursor: int) -> list[Frame] | None:
        """Frames with seq > cursor; None if some of them have left the buffer already."""
        if cursor >= self.last_seq:
            return []
        first = self.first_seq
        if cursor + 1 < first:
            return None
        start = cursor + 1 - first
        if start == 0:
            return list(self.frames)
        return [self.frames[i] for i in range(start, len(self.frames))]

    def append(self, frames: list[Frame]) -> None:
        for frame in frames:
            self.frames.append(frame)
            self.last_seq = frame.seq
        for waker in self.wakers:
            push = waker.push
            if push is None or not push(frames):
                waker.event.set()


class StreamHub:
    def __init__(self, read_gap: GapReader, *, capacity: int = 4096) -> None:
        self._read_gap = read_gap
        self._capacity = capacity
        self._buffers: dict[str, ChannelBuffer] = {}
        self._lock = asyncio.Lock()

    def buffer(self, channel: str) -> ChannelBuffer | None:
        return self._buffers.get(channel)

    def channels(self) -> KeysView[str]:
        """The channels somebody listens to."""
        return self._buffers.keys()

    def subscribe(self, channels: Iterable[str], waker: Waker) -> list[ChannelBuffer]:
        buffers = []
        for channel in channels:
            buffer = self._buffers.get(channel)
            if buffer is None:
                buffer = self._buffers[channel] = ChannelBuffer(channel, self._capacity)
            buffer.wakers.add(waker)
            buffers.append(buffer)
        return buffers

    def unsubscribe(self, buffers: Iterable[ChannelBuffer], waker: Waker) -> None:
        for buffer in buffers:
            buffer.wakers.discard(waker)
            # A channel nobody listens to keeps no memory.
            if not buffer.wakers and self._buffers.get(buffer.channel) is buffer:
                del self._buffers[buffer.channel]

    async def deliver(self, frames: list[Frame]) -> None:
        """Take committed frames from the broker (in any order) into the buffers."""
        by_channel: dict[str, list[Frame]] = {}
        for frame in frames:
            if frame.channel in self._buffers:
                by_channel.setdefault(frame.channel, []).append(frame)
        for channel, incoming in by_channel.items():
            buffer = self._buffers.get(channel)
            if buffer is None:
                continue
            incoming.sort(key=lambda f: f.seq)
            if buffer.last_seq == 0 and not buffer.frames:
                # A fresh buffer starts where the first frame is; subscribers that
                # need older frames read them from the store.
                buffer.last_seq = incoming[0].seq - 1
            fresh = [f for f in incoming if f.seq > buffer.last_seq]
            if not fresh:
                continue
            if fresh[0].seq != buffer.last_seq + 1 or _has_holes(fresh):
                fresh = await self._fill(buffer, fresh)
            buffer.append(fresh)

    async def _fill(self, buffer: ChannelBuffer, fresh: list[Frame]) -> list[Frame]:
        upto = fresh[-1].seq
        try:
            stored = await self._read_gap(buffer.channel, buffer.last_seq, upto)
        except Exception:
            log.exception("could not fill a stream gap on %s", buffer.channel)
            stored = []
        merged = {f.seq: f for f in stored}
        merged.update((f.seq, f) for f in fresh)
        result: list[Frame] = []
        expected = buffer.last_seq + 1
        for seq in sorted(merged):
            if seq > buffer.last_seq:
                if seq != expected:
                    # Still a hole: subscribers past it would skip events. Give up on
                    # the buffer's continuity; subscribers re-read from the store.
                    log.warning("stream gap on %s at %d", buffer.channel, expected)
                    buffer.frames.clear()
                    buffer.last_seq = seq - 1
                    result = []
                result.append(merged[seq])
                expected = seq + 1
        return result

    def ring_all(self) -> None:
        """Wake every subscriber (heartbeats, shutdown)."""
        for buffer in self._buffers.values():
            for waker in buffer.wakers:
                waker.ring()


def _has_holes(frames: list[Frame]) -> bool:
    return any(b.seq != a.seq + 1 for a, b in zip(frames, frames[1:], strict=False))
