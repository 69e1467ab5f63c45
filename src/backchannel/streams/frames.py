"""Server-Sent Events framing: a frame is built once and its bytes go to every subscriber."""

from __future__ import annotations

from typing import Any

import orjson

HEARTBEAT = b":\n\n"


class Frame:
    """One event on one channel, with its bytes for single and multiplexed streams.

    The single-channel bytes carry ``id: SEQ``, so every subscriber of a wall gets the
    same bytes. A multiplexed stream carries several channels; its id is per
    connection (a cursor per channel), so it shares everything but the ``id:`` line.
    """

    __slots__ = ("channel", "seq", "event", "data", "_single", "_multi")

    def __init__(self, channel: str, seq: int, event: str, data: bytes) -> None:
        self.channel = channel
        self.seq = seq
        self.event = event
        self.data = data
        self._single: bytes | None = None
        self._multi: bytes | None = None

    @property
    def single(self) -> bytes:
        if self._single is None:
            self._single = b"id: %d\nevent: %s\ndata: %s\n\n" % (
                self.seq,
                self.event.encode(),
                self.data,
            )
        return self._single

    @property
    def multi(self) -> bytes:
        """``event`` and ``data`` lines; the connection appends ``id: …\\n\\n`` itself."""
        if self._multi is None:
            self._multi = b'event: %s\ndata: {"channel":%s,"seq":%d,"data":%s}\n' % (
                self.event.encode(),
                orjson.dumps(self.channel),
                self.seq,
                self.data,
            )
        return self._multi

    def __repr__(self) -> str:
        return f"Frame({self.channel!r}, {self.seq}, {self.event!r})"


class Skipped(Frame):
    """A sequence number a stream passes over without sending anything: a view of a
    channel (``mastodon_api.status_frames``) keeps the channel's numbers, so that
    ``Last-Event-ID`` means the same on both, and skips the frames it leaves out."""

    __slots__ = ()

    def __init__(self, channel: str, seq: int) -> None:
        super().__init__(channel, seq, "", b"")
        self._single = self._multi = b""


#: Splits an envelope into the bytes before and after its payload; JSON never holds it.
ENVELOPE_HOLE = b"\x00"


class Enveloped(bytes):
    """Frame data that wraps a payload other frames carry bare: ``prefix + inner +
    suffix``, usable as the bytes it is. The store keeps ``inner`` once, shared with
    those frames, and only ``envelope`` with this frame's entry."""

    inner: bytes
    envelope: bytes

    def __new__(cls, prefix: bytes, inner: bytes, suffix: bytes) -> Enveloped:
        self = super().__new__(cls, prefix + inner + suffix)
        self.inner = inner
        self.envelope = prefix + ENVELOPE_HOLE + suffix
        return self


def unwrap(envelope: bytes | None, inner: bytes) -> bytes:
    """A stored frame's data: its payload, inside its envelope if it has one."""
    if envelope is None:
        return inner
    prefix, _, suffix = envelope.partition(ENVELOPE_HOLE)
    return prefix + inner + suffix


def encode(data: Any) -> bytes:
    """JSON for a frame's data line; orjson never emits a newline, which SSE needs."""
    return orjson.dumps(data)
