"""The inline SQLite driver: SQLAlchemy works on it, and a lock wait never freezes the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event, text

from backchannel.config import Settings
from backchannel.db import sqlite_inline
from backchannel.db.engine import engine_for, make_engine, make_sessionmaker


def _url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}"


async def test_engine_runs_on_the_inline_driver(tmp_path: Path) -> None:
    engine = make_engine(_url(tmp_path), inline=True)
    try:
        assert isinstance(engine.dialect.dbapi, type(sqlite_inline.dbapi()))
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)"))
            await conn.execute(text("INSERT INTO t (x) VALUES (:x)"), [{"x": "a"}, {"x": "b"}])
            nested = await conn.begin_nested()
            await conn.execute(text("INSERT INTO t (x) VALUES ('gone')"))
            await nested.rollback()
        async with engine.connect() as conn:
            assert await conn.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await conn.scalar(text("PRAGMA busy_timeout")) == 0
            rows = (await conn.execute(text("SELECT x FROM t WHERE x REGEXP '^[ab]$'"))).all()
            assert [r.x for r in rows] == ["a", "b"]
            streamed = await conn.stream(text("SELECT x FROM t ORDER BY id"))
            assert [r.x async for r in streamed] == ["a", "b"]
    finally:
        await engine.dispose()


async def test_the_setting_chooses_the_driver(tmp_path: Path) -> None:
    for driver, inline in (("inline", True), ("aiosqlite", False)):
        settings = Settings(data_dir=tmp_path, sqlite_driver=driver)
        engine = engine_for(settings)
        try:
            chosen = isinstance(engine.dialect.dbapi, type(sqlite_inline.dbapi()))
            assert chosen is inline
        finally:
            await engine.dispose()


def _hold_write_lock(path: Path, seconds: float, held: threading.Event) -> None:
    """Another process's writer: holds the write lock for a while, then commits."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (x) VALUES ('other')")
        held.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
    finally:
        conn.close()


async def test_a_busy_database_is_waited_for_without_blocking_the_loop(tmp_path: Path) -> None:
    engine = make_engine(_url(tmp_path), inline=True)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)"))
        held = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(tmp_path / "inline.db", 0.3, held))
        holder.start()
        assert await asyncio.to_thread(held.wait, 5)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        start = time.monotonic()
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (x) VALUES ('ours')"))
        waited = time.monotonic() - start
        ticker.cancel()
        await asyncio.to_thread(holder.join)
        assert waited >= 0.2
        assert ticks >= 10  # the loop kept running while the write waited for the lock
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM t")) == 2
    finally:
        await engine.dispose()


async def test_a_lock_held_past_the_deadline_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_inline, "BUSY_DEADLINE", 0.05)
    engine = make_engine(_url(tmp_path), inline=True)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)"))
        held = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(tmp_path / "inline.db", 0.5, held))
        holder.start()
        assert await asyncio.to_thread(held.wait, 5)
        try:
            with pytest.raises(Exception, match="database is locked"):
                async with engine.begin() as conn:
                    await conn.execute(text("INSERT INTO t (x) VALUES ('ours')"))
        finally:
            await asyncio.to_thread(holder.join)
    finally:
        await engine.dispose()


async def test_a_stale_snapshot_is_not_retried(tmp_path: Path) -> None:
    path = tmp_path / "snap.db"
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (x)")
    ours = sqlite_inline.connect(str(path), isolation_level=None)
    try:
        cursor = ours.cursor()
        await cursor.execute("BEGIN")
        await cursor.execute("SELECT count(*) FROM t")
        await cursor.fetchall()
        setup.execute("INSERT INTO t VALUES (1)")  # another writer moves on
        start = time.monotonic()
        with pytest.raises(sqlite3.OperationalError):
            await cursor.execute("INSERT INTO t VALUES (2)")
        assert time.monotonic() - start < 0.5
        await ours.rollback()
    finally:
        await ours.close()
        setup.close()


async def test_sessions_give_their_connection_back_as_they_close(tmp_path: Path) -> None:
    """Many requests opening and closing sessions at once share a connection or two:
    each ``async with`` returns its connection before anything else runs, so the pool
    never has to open (and then throw away) one per request."""
    engine = make_engine(_url(tmp_path), inline=True)
    connects = 0

    @event.listens_for(engine.sync_engine, "connect")
    def _counted(*_args: object) -> None:
        nonlocal connects
        connects += 1

    most = 0

    async def request() -> None:
        nonlocal most
        for _ in range(20):
            async with make_sessionmaker(engine)() as session:
                await session.execute(text("SELECT 1"))
                most = max(most, engine.sync_engine.pool.checkedout())
            await asyncio.sleep(0)

    try:
        await asyncio.gather(*(request() for _ in range(100)))
        assert engine.sync_engine.pool.checkedout() == 0
        assert most == 1
        assert connects == 1
    finally:
        await engine.dispose()
