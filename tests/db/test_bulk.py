"""``insert_many`` stores exactly what SQLAlchemy's own executemany stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.db.base import UTCDateTime
from backchannel.db.bulk import insert_many
from backchannel.kit.clock import as_utc
from backchannel.people.models import Account
from backchannel.posts.models import Post, Tombstone
from backchannel.streams.models import StreamEntry, StreamPayload

Maker = async_sessionmaker[AsyncSession]
WHEN = datetime(2025, 5, 14, 9, 30, 15, 123456, tzinfo=UTC)


def post_row(post_id: int, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": post_id,
        "source": "mastodon",
        "source_uri": f"https://social.example/notes/{post_id}",
        "url": None,
        "author_id": 1,
        "content_html": "<p>Grüße aus Halle 3 #dk2025 😀</p>",
        "content_text": "Grüße aus Halle 3 #dk2025 😀",
        "title": None,
        "language": "de",
        "visibility": "public",
        "sensitive": True,
        "spoiler_text": "",
        "in_reply_to_uri": None,
        "reblog_of_uri": None,
        "media": [{"url": "https://media.example/a.png", "description": "ein Bild"}],
        "mentions": [{"acct": "bob@b.example", "url": None}],
        "tags": ["dk2025", "東京"],
        "created_at": WHEN,
        "edited_at": None,
        "received_at": WHEN.astimezone(UTC) + timedelta(seconds=1),
    }
    row.update(changes)
    return row


def readable(post: Post) -> dict[str, Any]:
    return {c: getattr(post, c) for c in post_row(0) if c != "id"}


async def test_posts_read_back_as_from_sqlalchemys_executemany(sessionmaker: Maker) -> None:
    async with sessionmaker() as session, session.begin():
        session.add(Account(id=1, acct="alice@social.example", username="alice", domain="x"))
        await session.flush()
        connection = await session.connection()
        await connection.execute(insert(Post), [post_row(1), post_row(2, edited_at=WHEN)])
        await connection.run_sync(insert_many, Post, [post_row(3), post_row(4, edited_at=WHEN)])

    async with sessionmaker() as session:
        posts = {p.id: p for p in (await session.scalars(select(Post))).all()}
    for ours, theirs in ((3, 1), (4, 2)):
        expected = readable(posts[theirs]) | {"source_uri": posts[ours].source_uri}
        assert readable(posts[ours]) == expected


async def test_bytes_of_stream_payloads_and_dates_of_tombstones(sessionmaker: Maker) -> None:
    data = b'{"id":"1","content":"<p>\\u00fc</p>"}'
    async with sessionmaker() as session, session.begin():
        connection = await session.connection()
        await connection.run_sync(insert_many, StreamPayload, [{"id": 7, "data": data}])
        await connection.run_sync(
            insert_many,
            StreamEntry,
            [{"channel": "tag:x", "seq": n, "event": "post", "payload_id": 7} for n in (1, 2)],
        )
        await connection.run_sync(
            insert_many, Tombstone, [{"source_uri": "https://x.example/1", "deleted_at": WHEN}]
        )

    async with sessionmaker() as session:
        rows = (
            await session.execute(
                select(StreamEntry.seq, StreamPayload.data)
                .join(StreamPayload, StreamPayload.id == StreamEntry.payload_id)
                .order_by(StreamEntry.seq)
            )
        ).all()
        deleted_at = await session.scalar(select(Tombstone.deleted_at))
    assert [(seq, bytes(d)) for seq, d in rows] == [(1, data), (2, data)]
    assert deleted_at == WHEN


async def test_rows_must_set_every_column_without_a_value_of_its_own(sessionmaker: Maker) -> None:
    async with sessionmaker() as session, session.begin():
        connection = await session.connection()
        with pytest.raises(ValueError, match="tombstones"):
            await connection.run_sync(
                insert_many, Tombstone, [{"source_uri": "https://x.example/1"}]
            )


async def test_a_value_longer_than_its_column_is_refused_or_kept_never_cut(
    sessionmaker: Maker,
) -> None:
    # PostgreSQL refuses it (as for one row at a time); SQLite ignores lengths and
    # keeps it. The array insert must not cast it to the column's length on the way.
    language = "x" * 40  # posts.language is VARCHAR(16)
    async with sessionmaker() as session:
        session.add(Account(id=1, acct="alice@social.example", username="alice", domain="x"))
        await session.commit()
    try:
        async with sessionmaker() as session, session.begin():
            connection = await session.connection()
            await connection.run_sync(insert_many, Post, [post_row(1, language=language)])
    except DBAPIError as exc:
        assert session.bind.dialect.name == "postgresql", exc
        assert "too long" in str(exc)
        return
    async with sessionmaker() as session:
        stored = await session.scalar(select(Post.language))
    assert stored == language


# Fractions and none, another offset, a year before 1000, and naive (taken as UTC).
TIMES = [
    WHEN,
    WHEN.replace(microsecond=0),
    datetime(2025, 5, 14, 11, 30, 15, 7, tzinfo=timezone(timedelta(hours=2))),
    datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(2025, 5, 14, 9, 30, 15, 123456),
]


@pytest.mark.parametrize("when", TIMES)
async def test_times_are_stored_as_the_same_text(sessionmaker: Maker, when: datetime) -> None:
    """SQLite compares stored times as text: ours must be SQLAlchemy's, to the byte."""
    async with sessionmaker() as session, session.begin():
        connection = await session.connection()
        await connection.run_sync(
            insert_many, Tombstone, [{"source_uri": "https://x.example/ours", "deleted_at": when}]
        )
        await session.execute(
            insert(Tombstone), [{"source_uri": "https://x.example/theirs", "deleted_at": when}]
        )
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                text("SELECT source_uri, CAST(deleted_at AS TEXT) FROM tombstones ORDER BY 1")
            )
        ).all()
    assert rows[0][1] == rows[1][1]


@pytest.mark.parametrize("when", TIMES)
def test_utc_times_on_sqlite_are_sqlalchemys_datetime_text(when: datetime) -> None:
    """``UTCDateTime`` writes SQLite's text itself, in one call: it must be the text
    SQLAlchemy's own ``DATETIME`` makes of the naive UTC time, to the byte."""
    dialect = sqlite.dialect()
    ours = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    theirs = sqlite.DATETIME().bind_processor(dialect)
    assert ours is not None and theirs is not None
    assert ours(when) == theirs(as_utc(when).replace(tzinfo=None))
    assert ours(None) is None


async def test_columns_none_in_every_row_are_left_out_and_read_back_null(
    sessionmaker: Maker,
) -> None:
    """On SQLite a column that every row leaves None is not sent at all (binding a None
    costs more than leaving it out); it still reads back as NULL. A column None in
    only some rows is sent."""
    from sqlalchemy import event

    sent: list[str] = []
    rows = [post_row(5), post_row(6, edited_at=WHEN)]
    async with sessionmaker() as session, session.begin():
        session.add(Account(id=1, acct="alice@social.example", username="alice", domain="x"))
        await session.flush()
        connection = await session.connection()

        def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            sent.append(statement)

        sync_engine = connection.sync_engine
        event.listen(sync_engine, "before_cursor_execute", record)
        try:
            await connection.run_sync(insert_many, Post, rows)
        finally:
            event.remove(sync_engine, "before_cursor_execute", record)

    async with sessionmaker() as session:
        posts = {p.id: p for p in (await session.scalars(select(Post))).all()}
    assert (posts[5].title, posts[5].in_reply_to_uri, posts[5].url) == (None, None, None)
    assert posts[5].edited_at is None and posts[6].edited_at == WHEN
    [insert_sql] = [s for s in sent if s.startswith("INSERT INTO posts")]
    if connection.dialect.name == "sqlite":
        columns = insert_sql.partition("(")[2].partition(")")[0]
        assert "title" not in columns and "reblog_of_uri" not in columns
        assert "edited_at" in columns and "content_text" in columns
