"""Persisted stream entries: sequence allocation inside the writer's transaction, and
reads for clients that resume with ``Last-Event-ID``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.streams.frames import Frame
from backchannel.streams.models import StreamCounter, StreamEntry

#: (channel, event name, JSON data)
Pending = tuple[str, str, bytes]


async def append(session: AsyncSession, pending: Sequence[Pending]) -> list[Frame]:
    """Give each pending entry the next sequence number of its channel and store it.

    One counter upsert for the whole group (``RETURNING`` the new last numbers), then
    one insert of the entries: a commit costs two statements, however many posts and
    channels it carries.
    """
    if not pending:
        return []
    wanted = Counter(channel for channel, _, _ in pending)
    is_pg = session.get_bind().dialect.name == "postgresql"
    dialect_insert: Any = postgresql.insert if is_pg else sqlite.insert
    # Sorted, so two writers on PostgreSQL take the counter row locks in one order.
    rows = [{"channel": c, "last_seq": wanted[c]} for c in sorted(wanted)]
    stmt = dialect_insert(StreamCounter).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[StreamCounter.channel],
        set_={"last_seq": StreamCounter.last_seq + stmt.excluded.last_seq},
    ).returning(StreamCounter.channel, StreamCounter.last_seq)
    result = await session.execute(stmt)
    next_seq = {channel: last - wanted[channel] + 1 for channel, last in result.all()}
    frames: list[Frame] = []
    for channel, event, data in pending:
        seq = next_seq[channel]
        next_seq[channel] = seq + 1
        frames.append(Frame(channel, seq, event, data))
    await session.execute(
        insert(StreamEntry),
        [{"channel": f.channel, "seq": f.seq, "event": f.event, "data": f.data} for f in frames],
    )
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
