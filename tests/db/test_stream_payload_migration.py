"""Migration 0011 moves each stream entry's data into a payload of its own: a client
that reconnects across the upgrade still gets what it missed, and the next prune
still finds the old entries by age. 0012 makes the entries lean; 0013 lets an entry
wrap a shared payload in an envelope."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from backchannel.db.engine import make_engine, make_sessionmaker
from backchannel.db.migrate import alembic_config, upgrade_async
from backchannel.kit.clock import utcnow
from backchannel.kit.ids import id_floor
from backchannel.streams import repository as store
from backchannel.streams.frames import Enveloped
from conftest import PG_URL, asyncpg_dsn, prepare_postgres, unavailable

OLD = utcnow() - timedelta(hours=3)
NEW = utcnow()
# (channel, seq, data, created_at): one group's entries share one time.
ENTRIES = [
    ("tag:a", 1, b'{"id":"1"}', OLD),
    ("tag:a", 2, b'{"id":"2"}', OLD),
    ("tag:b", 1, b'{"id":"1"}', OLD),
    ("tag:a", 3, b'{"id":"3","text":"\\u00fc"}', NEW),
]


@pytest.fixture(params=["sqlite", "postgresql"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of its own (the shared ones are at the newest revision)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrate.db'}"
        return
    why = await prepare_postgres()
    if why is not None:
        unavailable("PostgreSQL", why)
    import asyncpg

    base, _, name = asyncpg_dsn().rpartition("/")
    scratch = f"{name}_migration"
    admin = await asyncpg.connect(base + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{scratch}"')
        yield PG_URL.rpartition("/")[0] + "/" + scratch
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        await admin.close()


async def insert_old_entries(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for channel, seq, data, at in ENTRIES:
            stamp = at if engine.dialect.name == "postgresql" else at.replace(tzinfo=None)
            await conn.execute(
                text(
                    "INSERT INTO stream_entries (channel, seq, event, data, created_at) "
                    "VALUES (:c, :s, 'post', :d, :t)"
                ),
                {"c": channel, "s": seq, "d": data, "t": stamp},
            )


async def test_entries_made_before_the_upgrade_are_read_and_pruned_after_it(url: str) -> None:
    await upgrade_async(url, "0010")
    engine = make_engine(url)
    try:
        await insert_old_entries(engine)
        await upgrade_async(url)  # through 0011, and on: read by today's code
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker() as session:
            a = await store.read_after(session, "tag:a", 0)
            b = await store.read_after(session, "tag:b", 0)
            payload_ids = (
                await session.execute(text("SELECT payload_id FROM stream_entries"))
            ).scalars()
            floors = sorted(i >> 16 for i in payload_ids)
        assert [(f.seq, f.data) for f in a] == [(s, d) for c, s, d, _ in ENTRIES if c == "tag:a"]
        assert [(f.seq, f.data) for f in b] == [(1, b'{"id":"1"}')]
        # Each payload's id carries its entry's time, to the millisecond.
        assert floors == sorted(id_floor(at) >> 16 for *_, at in ENTRIES)

        async with sessionmaker() as session, session.begin():
            cutoff = utcnow() - timedelta(hours=1)
            assert await store.prune_entries(session, cutoff, cursor=("", False), limit=100) is None
            await store.prune_payloads(session, cutoff, limit=100)
        async with sessionmaker() as session:
            a = await store.read_after(session, "tag:a", 0)
            left = await session.scalar(text("SELECT count(*) FROM stream_payloads"))
        assert [f.seq for f in a] == [3]
        assert left == 1
    finally:
        await engine.dispose()


async def test_a_downgrade_puts_the_data_back_into_the_entries(url: str) -> None:
    await upgrade_async(url, "0010")
    engine = make_engine(url)
    try:
        await insert_old_entries(engine)
        await upgrade_async(url, "0011")
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0010")
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT channel, seq, data FROM stream_entries ORDER BY channel, seq")
                )
            ).all()
        assert [(c, s, bytes(d)) for c, s, d in rows] == sorted((c, s, d) for c, s, d, _ in ENTRIES)
    finally:
        await engine.dispose()


async def test_0012_keeps_every_entry_and_leaves_them_lean(url: str) -> None:
    """Migration 0012 drops the entries' time column (and on SQLite their rowid); what
    a reconnecting client reads is unchanged, and a downgrade brings the column back."""
    await upgrade_async(url, "0010")
    engine = make_engine(url)
    try:
        await insert_old_entries(engine)
        await upgrade_async(url, "0012")
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker() as session:
            columns = await session.run_sync(
                lambda s: [c["name"] for c in inspect(s.connection()).get_columns("stream_entries")]
            )
            ddl = await session.scalar(
                text("SELECT sql FROM sqlite_master WHERE name = 'stream_entries'")
                if engine.dialect.name == "sqlite"
                else text("SELECT 'heap'")
            )
        assert sorted(columns) == ["channel", "event", "payload_id", "seq"]
        if engine.dialect.name == "sqlite":
            assert "WITHOUT ROWID" in ddl
        await upgrade_async(url)  # read by today's code
        async with sessionmaker() as session:
            a = await store.read_after(session, "tag:a", 0)
        assert [(f.seq, f.data) for f in a] == [(s, d) for c, s, d, _ in ENTRIES if c == "tag:a"]

        await asyncio.to_thread(command.downgrade, alembic_config(url), "0011")
        async with sessionmaker() as session:
            rows = (
                await session.execute(
                    text("SELECT channel, seq, created_at FROM stream_entries ORDER BY 1, 2")
                )
            ).all()
        assert [(c, s) for c, s, _ in rows] == sorted((c, s) for c, s, _, _ in ENTRIES)
        assert all(at is not None for *_, at in rows)
    finally:
        await engine.dispose()


async def test_0013_entries_wrap_a_shared_payload_and_a_downgrade_drops_them(url: str) -> None:
    """A frame that wraps a post (the moderation queue's) stores its envelope, not a
    second copy of the post; it reads back byte for byte. A downgrade drops such
    entries (they would replay as the bare post) and keeps the others."""
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        post = b'{"id":"7","text":"caf\xc3\xa9"}'
        queued = Enveloped(b'{"post":', post, b',"moderation":{"state":"approved"}}')
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker() as session, session.begin():
            await store.append(
                session,
                [("tag:a", "post", post), ("event:1:queue", "post", queued)],
            )
        async with sessionmaker() as session:
            [bare] = await store.read_after(session, "tag:a", 0)
            [wrapped] = await store.read_after(session, "event:1:queue", 0)
            payloads = await session.scalar(text("SELECT count(*) FROM stream_payloads"))
        assert bare.data == post
        assert wrapped.data == bytes(queued)
        assert wrapped.data == b'{"post":' + post + b',"moderation":{"state":"approved"}}'
        assert payloads == 1

        await asyncio.to_thread(command.downgrade, alembic_config(url), "0012")
        async with engine.connect() as conn:
            channels = (await conn.execute(text("SELECT channel FROM stream_entries"))).all()
            ddl = await conn.scalar(
                text("SELECT sql FROM sqlite_master WHERE name = 'stream_entries'")
                if engine.dialect.name == "sqlite"
                else text("SELECT 'WITHOUT ROWID'")
            )
        assert [c for (c,) in channels] == ["tag:a"]
        assert "WITHOUT ROWID" in ddl  # the batch drop kept 0012's lean table
    finally:
        await engine.dispose()
