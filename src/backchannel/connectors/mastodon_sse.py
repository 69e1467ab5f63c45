"""Server-Sent Events as Mastodon's streaming API frames them, decoded with a bound.

``event: update`` / ``data: {…}`` then a blank line; ``:`` lines are heartbeats. A
remote server decides how long a line is, so a line longer than ``max_line`` is not
buffered: it is skipped to its end, the event it belonged to is dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str
    data: str


class SSEDecoder:
    """Feed it bytes as they arrive; it returns the events they complete."""

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        #: Events dropped because a line of theirs was too long (or not UTF-8).
        self.dropped = 0
        #: Comment lines seen (heartbeats).
        self.comments = 0
        self._buffer = bytearray()
        self._skipping = False
        self._broken = False
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                self._keep(chunk[start:])
                return events
            if self._skipping:
                self._skipping = False
            elif len(self._buffer) + end - start > self.max_line:
                self._buffer.clear()
                self._broken = True
            else:
                self._buffer += chunk[start:end]
                line = bytes(self._buffer).removesuffix(b"\r")
                self._buffer.clear()
                event = self._line(line)
                if event is not None:
                    events.append(event)
            start = end + 1

    def _keep(self, rest: bytes) -> None:
        if self._skipping:
            return
        self._buffer += rest
        if len(self._buffer) > self.max_line:
            self._buffer.clear()
            self._skipping = True
            self._broken = True

    def _line(self, raw: bytes) -> SSEEvent | None:
        if not raw:
            return self._dispatch()
        if raw.startswith(b":"):
            self.comments += 1
            return None
        try:
            line = raw.decode()
        except UnicodeDecodeError:
            self._broken = True
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        # "id" and "retry" mean nothing to this client; unknown fields are ignored.
        return None

    def _dispatch(self) -> SSEEvent | None:
        event, data, broken = self._event or "message", self._data, self._broken
        self._event, self._data, self._broken = "", [], False
        if broken:
            self.dropped += 1
            return None
        if not data:
            return None
        return SSEEvent(event, "\n".join(data))
