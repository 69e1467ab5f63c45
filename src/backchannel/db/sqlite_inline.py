"""An ``aiosqlite`` stand-in that runs ``sqlite3`` calls inline on the event loop.

SQLAlchemy's ``sqlite+aiosqlite`` dialect drives SQLite through ``aiosqlite``, which
hands every call (cursor, execute, fetchall, close, commit, …) to a thread per
connection and wakes the event loop back with ``call_soon_threadsafe``: several thread
hops per SQL statement, about ninety per post. Our SQLite runs in WAL mode with
``synchronous=NORMAL`` — a commit does not fsync — and our statements take
microseconds on a warm page cache, so calling ``sqlite3`` directly on the loop thread
costs less than one hop. This module gives the dialect the same API surface with
coroutines that make the plain ``sqlite3`` call and return; it is chosen with
``BACKCHANNEL_SQLITE_DRIVER=inline`` and wired through
``create_async_engine(url, module=dbapi())``.

Trade-offs, on purpose:

- **A statement blocks the loop while it runs.** Fine for the short, indexed
  statements this application issues; a long one (a big report, ``VACUUM``) would stall
  every connection of the process for its duration. Migrations run before serving.
- **Lock waits never block the loop.** SQLite's own busy handler would sleep on the loop
  thread, and within one process that is a deadlock until the timeout (the holder of
  the lock cannot run while we sleep). So connections are opened with a zero busy
  timeout and a statement that gets ``SQLITE_BUSY`` is retried after an
  ``asyncio.sleep`` (1 ms doubling to 25 ms) until ``BUSY_DEADLINE`` seconds have
  passed, then the error is raised as before. ``SQLITE_BUSY_SNAPSHOT`` (a read
  transaction that cannot become a write one) is raised at once: retrying cannot help.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

__version__ = "1.0"

# The names the dialect copies from the ``aiosqlite`` module.
DatabaseError = sqlite3.DatabaseError
Error = sqlite3.Error
IntegrityError = sqlite3.IntegrityError
NotSupportedError = sqlite3.NotSupportedError
OperationalError = sqlite3.OperationalError
ProgrammingError = sqlite3.ProgrammingError
sqlite_version = sqlite3.sqlite_version
sqlite_version_info = sqlite3.sqlite_version_info

#: Seconds a statement keeps retrying ``SQLITE_BUSY`` before the error is raised
#: (the aiosqlite driver waits as long in SQLite's busy handler).
BUSY_DEADLINE = 30.0
_FIRST_PAUSE = 0.001
_MAX_PAUSE = 0.025
_SQLITE_BUSY = 5
_SQLITE_BUSY_SNAPSHOT = 517

T = TypeVar("T")


def _retryable(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:  # pragma: no cover - Python < 3.11
        return "database is locked" in str(error)
    return bool(code & 0xFF == _SQLITE_BUSY and code != _SQLITE_BUSY_SNAPSHOT)


async def _call(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` now; on ``SQLITE_BUSY``, again after a pause, until the deadline."""
    try:
        return fn(*args)
    except sqlite3.OperationalError as error:
        if not _retryable(error):
            raise
    deadline = time.monotonic() + BUSY_DEADLINE
    pause = _FIRST_PAUSE
    while True:
        await asyncio.sleep(pause)
        try:
            return fn(*args)
        except sqlite3.OperationalError as error:
            if not _retryable(error) or time.monotonic() >= deadline:
                raise
        pause = min(pause * 2, _MAX_PAUSE)


class Cursor:
    """The awaitable cursor API of ``aiosqlite.Cursor`` over a ``sqlite3.Cursor``."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    def __aiter__(self) -> Cursor:
        return self

    async def __anext__(self) -> Any:
        row = self._cursor.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        await _call(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        # A generator could not be replayed after a busy retry.
        await _call(self._cursor.executemany, sql, list(parameters))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        if size is None:
            return self._cursor.fetchmany()
        return self._cursor.fetchmany(size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def setinputsizes(self, *_sizes: Any) -> None:
        return None

    async def close(self) -> None:
        self._cursor.close()


class Connection:
    """The awaitable connection API of ``aiosqlite.Connection`` over ``sqlite3``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn: sqlite3.Connection | None = conn

    @property
    def _connection(self) -> sqlite3.Connection | None:
        # The dialect tests this (as for aiosqlite) before a commit or a rollback.
        return self._conn

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self.conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:
        self.conn.isolation_level = value

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def cursor(self) -> Cursor:
        return Cursor(self.conn.cursor())

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        await _call(self.conn.commit)

    async def rollback(self) -> None:
        await _call(self.conn.rollback)

    async def create_function(
        self, name: str, num_params: int, func: Callable[..., Any], **kw: Any
    ) -> None:
        self.conn.create_function(name, num_params, func, **kw)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close now (the dialect's forced terminate)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def connect(database: str, **kwargs: Any) -> Connection:
    """A ``sqlite3`` connection that may be used from any thread (one at a time: each
    adapted connection serialises its calls) and never waits in SQLite's busy handler."""
    kwargs["timeout"] = 0.0
    kwargs["check_same_thread"] = False
    return Connection(sqlite3.connect(database, **kwargs))


class _AdaptedConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    @property
    def isolation_level(self) -> str | None:
        value: str | None = self._connection.isolation_level
        return value

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        # aiosqlite's setter needs its worker thread; ours is a plain attribute.
        self._connection.isolation_level = value


class InlineDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> _AdaptedConnection:
        creator_fn = kw.pop("async_creator_fn", None)
        try:
            if creator_fn is not None:
                connection = await_(creator_fn(*arg, **kw))
            else:
                connection = connect(*arg, **kw)
        except Exception as error:
            _AdaptedConnection._handle_exception_no_connection(self, error)
        return _AdaptedConnection(self, connection)


def dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The DBAPI module object for ``create_async_engine(url, module=dbapi())``."""
    return InlineDBAPI(sys.modules[__name__], sqlite3)


__all__: Sequence[str] = (
    "BUSY_DEADLINE",
    "Connection",
    "Cursor",
    "InlineDBAPI",
    "connect",
    "dbapi",
)
