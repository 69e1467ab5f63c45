"""PostgreSQL connections that die in the pool (a restart, a proxy's idle timeout).

Pooled connections are pinged only after sitting idle (``db/engine.py``), not at
every checkout; a connection that dies while busy fails the writer's group, which runs
once more on a new connection. Either way the write is committed and acknowledged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from backchannel.broker.memory import MemoryBroker
from backchannel.db.engine import make_engine, make_sessionmaker
from backchannel.db.writer import UnitOfWork, Writer
from backchannel.people import service as people
from backchannel.people.models import Account
from conftest import PG_URL, asyncpg_dsn, prepare_postgres, truncate_all, unavailable

DEADLINE = 10.0


@pytest.fixture
async def admin() -> AsyncIterator[asyncpg.Connection]:
    why = await prepare_postgres()
    if why is not None:
        unavailable("PostgreSQL", why)
    conn = await asyncpg.connect(asyncpg_dsn())
    yield conn
    await conn.close()


async def pooled_pids(engine: AsyncEngine) -> set[int]:
    async with engine.connect() as conn:
        return {int(await conn.scalar(text("SELECT pg_backend_pid()")) or 0)}


async def terminate(admin: asyncpg.Connection, pids: set[int]) -> None:
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", list(pids)
    )
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        alive = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", list(pids)
        )
        if alive == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"backends {pids} still alive")


async def test_an_idle_connection_that_died_is_replaced_before_use(
    admin: asyncpg.Connection,
) -> None:
    engine = make_engine(PG_URL, ping_after_idle=0.0)
    try:
        old = await pooled_pids(engine)
        await terminate(admin, old)
        async with engine.connect() as conn:
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        assert pid not in old
    finally:
        await engine.dispose()


async def test_a_write_whose_connection_died_while_busy_is_still_committed(
    admin: asyncpg.Connection,
) -> None:
    # Used a moment ago, so not pinged: the group's first statement finds it dead.
    engine = make_engine(PG_URL, ping_after_idle=3600.0)
    await truncate_all(engine)
    writer = Writer(make_sessionmaker(engine), MemoryBroker())
    await writer.start()
    try:

        async def write(uow: UnitOfWork) -> Account:
            return await people.create_local_account(
                uow.session, "survivor", "correct-horse-battery", "attendee"
            )

        await terminate(admin, await pooled_pids(engine))
        account = await writer.submit(write)
        assert account.username == "survivor"
        async with make_sessionmaker(engine)() as session:
            count = await session.scalar(
                select(func.count()).select_from(Account).where(Account.username == "survivor")
            )
        assert count == 1
    finally:
        await writer.stop()
        await engine.dispose()
