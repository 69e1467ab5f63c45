"""Persisted stream entries: sequence allocation inside the writer's transaction, and
reads for clients that resume with ``Last-Event-ID``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from backchannel.db.bulk import insert_many
from backchannel.kit.clock import utcnow
from backchannel.streams.frames import Frame
from backchannel.streams.models import StreamCounter, StreamEntry

#: (channel, event name, JSON data)
Pending = tuple[str, str, bytes]


@cache
def _bump_counters(dialect: str) -> Insert:
    """Add ``last_seq`` to a channel's counter (creating it), returning the new value."""
    dialect_insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = dialect_insert(StreamCounter)
    bump: Insert = stmt.on_conflict_do_update(
        index_elements=[StreamCounter.channel],
        set_={"last_seq": StreamCounter.last_seq + stmt.excluded.last_seq},
    ).returning(StreamCounter.channel, StreamCounter.last_seq)
    return bump


async def append(session: AsyncSession, pending: Sequence[Pending]) -> list[Frame]:
    """Give each pending entry the next sequence number of its channel and store it.

    One counter upsert for the whole group (``RETURNING`` the new last numbers), then
    one insert of the entries: a commit costs two statements, however many posts and
    channels it carries.
    """
    if not pending:
        return []
    wanted = Counter(channel for channel, _, _ in pending)
    connection = await session.connection()
    # Sorted, so two writers on PostgreSQL take the counter row locks in one order.
    # One statement built once, executed for many rows (SQLAlchemy sends them as one
    # multi-row INSERT … RETURNING); ``.values(rows)`` would be compiled every time.
    result = await connection.execute(
        _bump_counters(connection.dialect.name),
        [{"channel": c, "last_seq": wanted[c]} for c in sorted(wanted)],
    )
    next_seq = {channel: last - wanted[channel] + 1 for channel, last in result.all()}
    frames: list[Frame] = []
    for channel, event, data in pending:
        seq = next_seq[channel]
        next_seq[channel] = seq + 1
        frames.append(Frame(channel, seq, event, data))
    now = utcnow()
    rows = [
        {"channel": f.channel, "seq": f.seq, "event": f.event, "data": f.data, "created_at": now}
        for f in frames
    ]
    # A dozen entries per post: the plain executemany (db/bulk.py).
    await connection.run_sync(insert_many, StreamEntry, rows)
    return frames


async def read_after(
    session: AsyncSession, channel: str, after: int, *, upto: int | None = None, limit: int = 1000
) -> list[Frame]:
    stmt = select(StreamEntry.seq, StreamEntry.event, StreamEntry.data).where(
        StreamEntry.channel == channel, StreamEntry.seq > after
    )
    if upto is not None:
        stmt = stmt.where(StreamEntry.seq <= upto)
    rows = await session.execute(stmt.order_by(StreamEntry.seq).limit(limit))
    return [Frame(channel, seq, event, bytes(data)) for seq, event, data in rows]


async def current_seq(session: AsyncSession, channel: str) -> int:
    value = await session.scalar(
        select(StreamCounter.last_seq).where(StreamCounter.channel == channel)
    )
    return value or 0


async def oldest_seq(session: AsyncSession, channel: str) -> int | None:
    return await session.scalar(
        select(func.min(StreamEntry.seq)).where(StreamEntry.channel == channel)
    )


async def prune_some(session: AsyncSession, older_than: datetime, *, limit: int) -> int:
    """Delete up to ``limit`` entries older than ``older_than``; returns how many.

    In small bites, each its caller's own short transaction: one big DELETE would
    hold SQLite's write lock (and, with the inline driver, the event loop) for seconds.
    """
    keys = (
        await session.execute(
            select(StreamEntry.channel, StreamEntry.seq)
            .where(StreamEntry.created_at < older_than)
            .limit(limit)
        )
    ).all()
    if not keys:
        return 0
    await session.execute(
        delete(StreamEntry).where(
            tuple_(StreamEntry.channel, StreamEntry.seq).in_([tuple(k) for k in keys])
        )
    )
    return len(keys)
