"""Persisted stream entries: sequence allocation inside the writer's transaction, and
reads for clients that resume with ``Last-Event-ID``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from backchannel.db.bulk import insert_many
from backchannel.kit.ids import id_floor, new_id
from backchannel.streams.frames import Enveloped, Frame, unwrap
from backchannel.streams.models import StreamCounter, StreamEntry, StreamPayload

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
    one insert of the payloads and one of the entries (two when some are
    ``Enveloped``): a commit costs three or four statements, however many posts and
    channels it carries. Equal data (a post framed
    once for all of its channels, bare or inside an ``Enveloped``) is stored once.
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
    payload_ids: dict[bytes, int] = {}
    payloads: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    # Apart: most entries have no envelope, and a column of Nones costs (db/bulk.py).
    wrapped: list[dict[str, Any]] = []
    for f in frames:
        data = f.data
        entry = {"channel": f.channel, "seq": f.seq, "event": f.event}
        if isinstance(data, Enveloped):
            entry["envelope"] = data.envelope
            data = data.inner
            wrapped.append(entry)
        else:
            entries.append(entry)
        payload_id = payload_ids.get(data)
        if payload_id is None:
            payload_id = payload_ids[data] = new_id()
            payloads.append({"id": payload_id, "data": data})
        entry["payload_id"] = payload_id
    await connection.run_sync(_insert, payloads, entries, wrapped)
    return frames


def _insert(connection: Connection, payloads: list[dict[str, Any]], *entries: list[Any]) -> None:
    # A dozen rows per post: the plain executemany (db/bulk.py).
    insert_many(connection, StreamPayload, payloads)
    for rows in entries:
        insert_many(connection, StreamEntry, rows)


async def read_after(
    session: AsyncSession, channel: str, after: int, *, upto: int | None = None, limit: int = 1000
) -> list[Frame]:
    stmt = (
        select(StreamEntry.seq, StreamEntry.event, StreamPayload.data, StreamEntry.envelope)
        .join(StreamPayload, StreamPayload.id == StreamEntry.payload_id)
        .where(StreamEntry.channel == channel, StreamEntry.seq > after)
    )
    if upto is not None:
        stmt = stmt.where(StreamEntry.seq <= upto)
    rows = await session.execute(stmt.order_by(StreamEntry.seq).limit(limit))
    return [
        Frame(channel, seq, event, unwrap(envelope, bytes(data)))
        for seq, event, data, envelope in rows
    ]


async def current_seq(session: AsyncSession, channel: str) -> int:
    value = await session.scalar(
        select(StreamCounter.last_seq).where(StreamCounter.channel == channel)
    )
    return value or 0


#: Where pruning goes on: a channel, and whether that channel is done.
PruneCursor = tuple[str, bool]
#: Channels one ``prune_entries`` call looks at, at most (one transaction).
PRUNE_CHANNELS = 200


async def prune_entries(
    session: AsyncSession, older_than: datetime, *, cursor: PruneCursor, limit: int
) -> PruneCursor | None:
    """Delete up to about ``limit`` entries older than ``older_than``, channel by
    channel from ``cursor`` (start with ``("", False)``); returns where to go on, or
    ``None`` when every channel has been seen.

    An entry is as old as its payload (``payload_id`` carries the time), and in a
    channel sequence order is time order: the old entries come first. A channel whose
    first entry is recent is passed over with one read; otherwise each step reads at
    most ``limit`` entries along the primary key and deletes the old ones among them.
    The caller runs each call in a short transaction of its own: one big DELETE would
    hold SQLite's write lock (and, with the inline driver, the event loop) for seconds.
    """
    floor = id_floor(older_than)
    deleted = 0
    channel, done = cursor
    for _ in range(PRUNE_CHANNELS):
        where = StreamEntry.channel > channel if done else StreamEntry.channel >= channel
        first = (
            await session.execute(
                select(StreamEntry.channel, StreamEntry.payload_id)
                .where(where)
                .order_by(StreamEntry.channel, StreamEntry.seq)
                .limit(1)
            )
        ).first()
        if first is None:
            return None
        channel, done = first[0], True
        if first[1] >= floor:
            continue
        edge = await session.scalar(
            select(StreamEntry.seq)
            .where(StreamEntry.channel == channel)
            .order_by(StreamEntry.seq)
            .offset(limit - 1)
            .limit(1)
        )
        step = delete(StreamEntry).where(
            StreamEntry.channel == channel, StreamEntry.payload_id < floor
        )
        if edge is not None:
            step = step.where(StreamEntry.seq <= edge)
        gone: int = (await session.execute(step)).rowcount  # type: ignore[attr-defined]
        deleted += gone
        if edge is not None and gone == limit:
            return channel, False  # all it read was old: more of it may be
        if deleted >= limit:
            break
    return channel, done


async def prune_payloads(session: AsyncSession, older_than: datetime, *, limit: int) -> int:
    """Delete up to ``limit`` payloads older than ``older_than``; returns how many
    (``limit``: call again, in a transaction of its own)."""
    # Payload ids carry their time (``new_id``): the primary key finds the old ones.
    ids = (
        await session.scalars(
            select(StreamPayload.id)
            .where(StreamPayload.id < id_floor(older_than))
            .order_by(StreamPayload.id)
            .limit(limit)
        )
    ).all()
    if ids:
        await session.execute(delete(StreamPayload).where(StreamPayload.id.in_(ids)))
    return len(ids)
