"""Engines and sessions for SQLite (WAL) and PostgreSQL, chosen by the URL."""

from __future__ import annotations

import time
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

from backchannel.config import Settings
from backchannel.db import sqlite_inline


def json_text(value: Any) -> str:
    """JSON columns' text, by orjson: the standard library's encoder was a tenth of
    what writing a post's row cost (media, mentions and tags are JSON). Keys that are
    not strings become strings, as ``json.dumps`` makes them."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


#: A PostgreSQL connection idle in the pool longer than this is pinged before use.
PING_AFTER_IDLE_SECONDS = 10.0


def make_engine(
    url: str, *, inline: bool | None = None, ping_after_idle: float = PING_AFTER_IDLE_SECONDS
) -> AsyncEngine:
    """An engine for ``url``. On SQLite, ``inline`` chooses the driver under the
    ``sqlite+aiosqlite`` dialect: ``sqlite3`` called on the event loop
    (``db/sqlite_inline.py``) or aiosqlite's thread per connection; ``None`` means the
    ``sqlite_driver`` setting (``BACKCHANNEL_SQLITE_DRIVER``). On PostgreSQL,
    ``ping_after_idle``: see ``_ping_when_idle``."""
    if is_sqlite(url):
        if inline is None:
            inline = Settings().sqlite_driver == "inline"
        # Connections are cheap to keep and dear to make (each aiosqlite connection is
        # a thread; each connects and runs PRAGMAs): a pool large enough for a busy
        # process never churns them.
        if inline:
            engine = create_async_engine(
                url,
                module=sqlite_inline.dbapi(),
                pool_size=32,
                max_overflow=32,
                json_serializer=json_text,
            )
        else:
            engine = create_async_engine(
                url,
                connect_args={"timeout": 30},
                pool_size=32,
                max_overflow=32,
                json_serializer=json_text,
            )
        _tune_sqlite(engine, busy_timeout_ms=0 if inline else 30_000)
        return engine
    engine = create_async_engine(
        url,
        pool_size=10,
        max_overflow=20,
        connect_args={"server_settings": POSTGRES_SESSION},
        json_serializer=json_text,
    )
    _ping_when_idle(engine, ping_after_idle)
    return engine


def _ping_when_idle(engine: AsyncEngine, after: float) -> None:
    """Ping a connection before use only if it sat in the pool for ``after`` seconds.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout, and on asyncpg a ping is
    three round trips (BEGIN, an empty query, ROLLBACK): for a group of the writer,
    which takes a connection per commit, that was as much as the rest of its
    statements. A connection used moments ago is alive; one that sat idle may have
    been closed by a restart of PostgreSQL or a proxy's timeout, and failing the ping
    makes the pool open a new one (``DisconnectionError``), as pre-ping does.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < after:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:
            raise DisconnectionError("the pooled connection did not answer") from exc


#: Session settings of every PostgreSQL connection. asyncpg prepares each statement
#: once per connection; PostgreSQL would still plan it again for each execution
#: whenever it judges a custom plan cheaper, and for the tag timeline's join that
#: planning took 1.2 ms against 0.2 ms of execution. Every query here is driven by
#: an index on its parameters, so the generic plan, made once, is the same plan.
POSTGRES_SESSION = {"plan_cache_mode": "force_generic_plan"}


def _tune_sqlite(engine: AsyncEngine, *, busy_timeout_ms: int) -> None:
    # WAL lets readers run while the writer commits; NORMAL is durable across a
    # process crash (a SIGKILL), which is what "acknowledged" promises.
    # pysqlite's own transaction handling breaks SAVEPOINT, so we issue BEGIN ourselves
    # (the recipe in SQLAlchemy's SQLite dialect documentation).
    # The inline driver must never wait in SQLite's busy handler (it would sleep on the
    # event loop): it retries a busy statement after an asyncio.sleep instead.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")


class _InlineSession(AsyncSession):
    """A session on the inline SQLite driver: ``async with`` closes it in place.

    SQLAlchemy closes a session at the end of ``async with`` in a task of its own,
    shielded so that a cancellation cannot cut the close short; the connection goes
    back to the pool only when that task runs, a turn of the loop later. Under load
    the sessions waiting for it outnumbered the pool, and the pool opened (and then
    closed) a connection for nearly every request: on the Mastodon API's
    ``POST /api/v1/statuses`` at 64 writers, 2,552 connections for 2,560 posts, each
    spending 0.4 ms setting up WAL and parsing the schema. On this driver a close
    calls sqlite3 without suspending, so no cancellation can land in the middle of it.
    """

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        await self.close()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    inline = isinstance(engine.dialect.loaded_dbapi, sqlite_inline.InlineDBAPI)
    return async_sessionmaker(
        engine,
        class_=_InlineSession if inline else AsyncSession,
        expire_on_commit=False,
        autoflush=False,
    )


def engine_for(settings: Settings) -> AsyncEngine:
    url = settings.resolved_database_url()
    if is_sqlite(url):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(url, inline=settings.sqlite_driver == "inline")
