"""Persisted per-channel sequences, so a client that reconnects gets what it missed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from backchannel.db.base import Base, BigInt, UTCDateTime
from backchannel.kit.clock import utcnow


class StreamCounter(Base):
    """The last sequence number of a channel. Incremented with ``UPDATE … RETURNING``:
    the row lock orders concurrent writers, so commit order is sequence order."""

    __tablename__ = "stream_counters"

    channel: Mapped[str] = mapped_column(String(320), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInt, default=0)


class StreamEntry(Base):
    __tablename__ = "stream_entries"

    channel: Mapped[str] = mapped_column(String(320), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInt, primary_key=True)
    #: The SSE event name and JSON data, framed again (with the id) on replay.
    event: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
