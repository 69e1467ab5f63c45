"""Backend fixtures: every storage test runs on SQLite and PostgreSQL.

A backend that does not answer is skipped with the reason printed; under ``CI=true``
that skip is a failure, so CI never passes by testing less.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import backchannel.db.models  # noqa: F401
from backchannel.db.base import Base
from backchannel.db.engine import make_engine, make_sessionmaker
from backchannel.db.migrate import upgrade_async
from support import LiveServer, serve_app, test_settings

PG_URL = os.environ.get(
    "BACKCHANNEL_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/backchannel_test"
)
REDIS_URL = os.environ.get("BACKCHANNEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def asyncpg_dsn(url: str = PG_URL) -> str:
    """``url`` as asyncpg's own ``connect`` takes it (no SQLAlchemy driver name)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def unavailable(what: str, why: str) -> None:
    """Skip (or, in CI, fail) a test whose backend does not answer."""
    message = f"{what} is not available: {why}"
    if IN_CI:
        pytest.fail(message + " (CI=true: a backend that does not answer is a failure)")
    pytest.skip(message)


_pg_ready: dict[str, str | None] = {}


async def prepare_postgres(url: str = PG_URL) -> str | None:
    """Create the test database if missing and migrate it once; None when reachable."""
    if url in _pg_ready:
        return _pg_ready[url]
    import asyncpg

    dsn = asyncpg_dsn(url)
    base, _, dbname = dsn.rpartition("/")
    try:
        admin = await asyncio.wait_for(asyncpg.connect(base + "/postgres"), 5)
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        _pg_ready[url] = f"{type(exc).__name__}: {exc}"
        return _pg_ready[url]
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", dbname)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{dbname}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()
    await upgrade_async(url)
    _pg_ready[url] = None
    return None


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "test.db"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade_async(url)
        return url
    why = await prepare_postgres()
    if why is not None:
        unavailable("PostgreSQL", why)
    return PG_URL


@pytest.fixture(scope="module")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


async def truncate_all(engine: AsyncEngine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    if engine.dialect.name != "postgresql":
        async with engine.begin() as conn:
            for name in tables:
                await conn.execute(text(f"DELETE FROM {name}"))
        return
    for attempt in range(5):
        try:
            async with engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
            return
        except DBAPIError as exc:
            # TRUNCATE locks table after table; a server of the previous test still
            # reading (a job runner's poll, a stream's token check) can make that a
            # deadlock, which PostgreSQL breaks by failing us. Take the locks again.
            if "deadlock" not in str(exc) or attempt == 4:
                raise
            await asyncio.sleep(0.1)


@pytest.fixture
async def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """A clean database for each test: migrated once per module, emptied per test."""
    await truncate_all(engine)
    return make_sessionmaker(engine)


async def redis_url_or_unavailable() -> str:
    """The test Redis URL if Redis answers; otherwise skip (or fail, in CI)."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    try:
        await asyncio.wait_for(client.ping(), 3)
    except Exception as exc:  # noqa: BLE001
        unavailable("Redis", f"{type(exc).__name__}: {exc}")
    finally:
        await client.aclose()
    return REDIS_URL


@pytest.fixture(scope="module", params=["memory", "redis"])
async def redis_or_memory(request: pytest.FixtureRequest) -> str:
    """'' for the in-process broker, or a Redis URL that answers."""
    if request.param == "memory":
        return ""
    return await redis_url_or_unavailable()


# --- A live server in the test's event loop (harness in support.py) ---------------


@pytest.fixture(scope="module")
async def live(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    """A live server on SQLite with the in-process broker, and on PostgreSQL with the
    Redis broker: each storage and each broker runs every live test."""
    redis_url = ""
    if database_url.startswith("postgresql"):
        redis_url = await redis_url_or_unavailable()
    settings = test_settings(tmp_path_factory.mktemp("live"), database_url, redis_url)
    async with serve_app(settings) as server:
        yield server


@pytest.fixture
async def server(live: LiveServer, engine: AsyncEngine) -> LiveServer:
    """The module's live server with an empty database for this test."""
    await truncate_all(engine)
    return live


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[Any]:
    import httpx

    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        yield client
