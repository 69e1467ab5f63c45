"""Persisted per-channel sequences, so a client that reconnects gets what it missed."""

from __future__ import annotations

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from backchannel.db.base import Base, BigInt


class StreamCounter(Base):
    """The last sequence number of a channel. Incremented with ``UPDATE … RETURNING``:
    the row lock orders concurrent writers, so commit order is sequence order."""

    __tablename__ = "stream_counters"

    channel: Mapped[str] = mapped_column(String(320), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInt, default=0)


class StreamPayload(Base):
    """The JSON data of one or more entries, stored once.

    A post goes out on about six channels (its event's wall and queue, its tag, its
    author, two Mastodon timelines) with one payload; stored with every entry, those
    copies were 96 % of the bytes each post wrote. A frame that wraps the post (the
    moderation queue's) stores only its envelope on the entry.
    """

    __tablename__ = "stream_payloads"

    #: A time-ordered id (``kit.ids.new_id``): old payloads are pruned by id.
    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class StreamEntry(Base):
    """One frame of a channel. Old ones are pruned by their payload's id, which carries
    the time: no time column, no index of its own. On SQLite, the primary key is the
    table (``WITHOUT ROWID``): a post writes about nine of these, one B-tree insert
    each."""

    __tablename__ = "stream_entries"
    __table_args__ = {"sqlite_with_rowid": False}

    channel: Mapped[str] = mapped_column(String(320), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInt, primary_key=True)
    #: The SSE event name; the data is the payload's, framed again (with the id) on
    #: replay. No foreign key: entries and payloads are pruned separately by age, and
    #: an entry whose payload is gone is as gone as the payload.
    event: Mapped[str] = mapped_column(String(32))
    payload_id: Mapped[int] = mapped_column(BigInt)
    #: The frame's data is the payload inside this envelope (``streams.frames.Enveloped``):
    #: the bytes before it and after it, split by a NUL. Null: the payload as it is.
    envelope: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
