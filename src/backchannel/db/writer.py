"""The boundary that commits: every write runs here, in groups.

A write is a coroutine that gets a ``UnitOfWork`` (a session, an outbox of stream
events, and a dict shared by the writes of one group). The writer runs queued writes
together in one transaction and one flush, persists their stream events with sequence
numbers, commits once, then publishes, then answers each caller. So a caller's 2xx
follows the commit that holds its write (a crash loses nothing acknowledged),
throughput under load is not one fsync (nor one savepoint) per post, and in one
process frames are published in commit order.

If anything in a group fails, the group is rolled back and its writes are run again
one transaction each, so one bad write fails alone and the others still commit.

Writes that add the same kinds of rows over and over (ingest: a post, its tags, its
event decisions, counters) hold them back in a per-group buffer
(``UnitOfWork.deferred``) and the writer writes each buffer with one statement per
table: before any other statement of the session runs (as autoflush would), at a
flush, and before the commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from backchannel.broker.base import Broker
from backchannel.kit.tasks import cancel_and_wait
from backchannel.streams import repository as stream_store
from backchannel.streams.frames import Frame

log = logging.getLogger(__name__)
T = TypeVar("T")
D = TypeVar("D", bound="Deferred")
#: A write that changes nothing: on SQLite it takes the database's write lock.
_SQLITE_RESERVE = text("UPDATE stream_counters SET last_seq = last_seq WHERE 0")


class RetryAlone(Exception):  # noqa: N818 - it is an instruction, not an error
    """Raised by a write that cannot run in this group (it depends on another write
    of the group that is not flushed yet); the writer runs it in its own transaction."""


class Deferred(Protocol):
    """Rows held back by the writes of a group, to be written together."""

    def write(self, session: Session) -> None:
        """Write what is held (statements on ``session.connection()``) and forget it."""


#: Keys of ``UnitOfWork.shared`` the writer itself uses.
_BUFFERS = "writer:deferred"
_HOLDING = "writer:holding"


@dataclass
class UnitOfWork:
    session: AsyncSession
    #: (channel, event, JSON data) to persist and publish after the commit.
    outbox: list[tuple[str, str, bytes]] = field(default_factory=list)
    #: Called after a successful commit (wake the job runner, …).
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    #: Shared by every write of one group: what one write added (not flushed yet)
    #: and what it looked up, for the next write to find without a query.
    shared: dict[str, Any] = field(default_factory=dict)

    def emit(self, channel: str, event: str, data: bytes) -> None:
        self.outbox.append((channel, event, data))

    def cache(self, name: str) -> dict[Any, Any]:
        """A per-group cache; gone with the group (and with a rollback)."""
        found: dict[Any, Any] = self.shared.setdefault(name, {})
        return found

    def deferred(self, name: str, factory: Callable[[], D]) -> D:
        """The group's buffer ``name`` (``factory()`` the first time it is asked for).

        The writer writes every buffer, in the order they were first asked for,
        before the session runs any statement outside ``holding_deferred`` (so later
        reads see the rows, as with autoflush), at every flush (so rows added through
        the ORM may refer to them), and before the commit. Never inside a SAVEPOINT:
        rolling that back would lose rows that other writes of the group were promised.
        """
        buffers: dict[str, Any] = self.shared.setdefault(_BUFFERS, {})
        found: D | None = buffers.get(name)
        if found is None:
            found = buffers[name] = factory()
        return found

    @contextmanager
    def holding_deferred(self) -> Iterator[None]:
        """Statements run inside read nothing the group's buffers hold (or know what they
        hold, through the group's caches): they do not write the buffers first."""
        self.shared[_HOLDING] = self.shared.get(_HOLDING, 0) + 1
        try:
            yield
        finally:
            self.shared[_HOLDING] -= 1

    async def write_deferred(self) -> None:
        """Write the group's buffers now (for a read inside ``holding_deferred`` that
        needs one of their rows after all)."""
        shared = self.shared
        held = shared.get(_HOLDING, 0)
        shared[_HOLDING] = 0
        try:
            await self.session.run_sync(_write_deferred, shared)
        finally:
            shared[_HOLDING] = held


Write = Callable[[UnitOfWork], Awaitable[T]]


@dataclass
class _Queued:
    write: Write[Any]
    future: asyncio.Future[Any]


@dataclass
class _Committed:
    frames: list[Frame]
    results: list[tuple[_Queued, Any, UnitOfWork]]


class Arrival:
    """A write on its way to the writer (``Writer.arriving``): ends when it is queued,
    or with ``close`` if it never comes."""

    __slots__ = ("_writer", "_open")

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        self._open = True
        writer._arriving += 1

    def close(self) -> None:
        if self._open:
            self._open = False
            self._writer._arrived()


class Writer:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        broker: Broker,
        *,
        batch_size: int = 256,
        gather_seconds: float = 0.0,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._broker = broker
        self._batch_size = batch_size
        self._gather_seconds = gather_seconds
        self._queue: asyncio.Queue[_Queued] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._arriving = 0
        self._all_arrived: asyncio.Event | None = None

    def arriving(self) -> Arrival:
        """Announce a write that is on its way (a request whose token and body are
        being checked); pass it to ``submit``, or ``close`` it if no write follows.

        Under load, requests reach the writer in cohorts, and a group takes only those
        queued when it starts: every group pays its statements and its commit, so
        small groups cost more CPU per write. A group waits (``gather_seconds`` at
        most; the ``write_gather_ms`` setting, 0 here by default) for the writes
        announced before it starts, and so takes them along. With nothing announced it
        starts at once: no wait when idle.
        """
        return Arrival(self)

    @property
    def arriving_now(self) -> int:
        """How many announced writes are not queued yet (nor given up)."""
        return self._arriving

    def _arrived(self) -> None:
        self._arriving -= 1
        if self._arriving == 0 and self._all_arrived is not None:
            self._all_arrived.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="writer")

    async def stop(self) -> None:
        """Finish what is queued (callers are waiting for it), then stop."""
        if self._task is None:
            return
        await self._queue.join()
        await cancel_and_wait(self._task)
        self._task = None

    async def submit(self, write: Write[T], arrival: Arrival | None = None) -> T:
        """Run ``write`` in the next group; returns after its commit (or raises)."""
        if self._task is None:
            if arrival is not None:
                arrival.close()
            raise RuntimeError("the writer is not running")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Queued(write, future))
        if arrival is not None:
            arrival.close()
        return await future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            self._take(batch)
            if self._arriving and self._gather_seconds > 0 and len(batch) < self._batch_size:
                await self._gather()
                self._take(batch)
            try:
                await self._run_batch([item for item in batch if not item.future.cancelled()])
            except Exception as exc:
                log.exception("write batch failed")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _take(self, batch: list[_Queued]) -> None:
        while len(batch) < self._batch_size and not self._queue.empty():
            batch.append(self._queue.get_nowait())

    async def _gather(self) -> None:
        """Wait until the writes announced so far are queued (or for the limit)."""
        self._all_arrived = asyncio.Event()
        try:
            await asyncio.wait_for(self._all_arrived.wait(), self._gather_seconds)
        except TimeoutError:
            pass
        finally:
            self._all_arrived = None

    async def _run_batch(self, batch: list[_Queued]) -> None:
        if not batch:
            return
        try:
            committed = await self._commit_reconnecting(batch)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].future.set_exception(exc)
                return
            # One write spoiled the group: give each its own transaction.
            for item in batch:
                try:
                    committed = await self._commit([item])
                except Exception as item_exc:
                    item.future.set_exception(item_exc)
                    continue
                await self._publish(committed)
            return
        await self._publish(committed)

    async def _commit_reconnecting(self, batch: list[_Queued]) -> _Committed:
        try:
            return await self._commit(batch)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # The connection died under the group (PostgreSQL restarted; pooled
            # connections are pinged only after sitting idle, see db/engine.py). The
            # pool has dropped it and its like: the same writes, once more, on a new one.
            log.warning("lost the database connection; running the write group again")
            return await self._commit(batch)

    async def _commit(self, batch: list[_Queued]) -> _Committed:
        results: list[tuple[_Queued, Any, UnitOfWork]] = []
        shared: dict[str, Any] = {}
        async with self._sessionmaker() as session:
            _write_deferred_first(session.sync_session, shared)
            async with session.begin():
                if session.get_bind().dialect.name == "sqlite":
                    # Take the write lock before the first read. SQLite's BEGIN is
                    # deferred: a transaction that has read and then writes after
                    # another connection committed (the job runner, a second
                    # process) fails at once with "database is locked" instead of
                    # waiting for the busy timeout.
                    await session.execute(_SQLITE_RESERVE)
                for item in batch:
                    uow = UnitOfWork(session, shared=shared)
                    results.append((item, await item.write(uow), uow))
                await session.run_sync(_write_deferred, shared)
                await session.flush()
                pending = [entry for _, _, uow in results for entry in uow.outbox]
                frames = await stream_store.append(session, pending)
        return _Committed(frames, results)

    async def _publish(self, committed: _Committed) -> None:
        # Committed. Publish first, so a client that hears back can already see it live.
        try:
            await self._broker.publish(committed.frames)
        except Exception:
            # The frames are persisted; subscribers catch up from the store.
            log.exception("publish failed")
        for item, result, uow in committed.results:
            for callback in uow.after_commit:
                try:
                    callback()
                except Exception:
                    log.exception("after-commit callback failed")
            if not item.future.done():
                item.future.set_result(result)


def _write_deferred(session: Session, shared: dict[str, Any]) -> None:
    buffers: dict[str, Deferred] | None = shared.get(_BUFFERS)
    if not buffers or shared.get(_HOLDING) or session.in_nested_transaction():
        return
    for buffer in buffers.values():
        buffer.write(session)


def _write_deferred_first(session: Session, shared: dict[str, Any]) -> None:
    """Write the group's buffers before any statement the session runs (outside
    ``holding_deferred``) and before every flush."""

    def before_execute(state: ORMExecuteState) -> None:
        _write_deferred(state.session, shared)

    def before_flush(flushing: Session, _flush: UOWTransaction, _objects: object) -> None:
        _write_deferred(flushing, shared)

    event.listen(session, "do_orm_execute", before_execute)
    event.listen(session, "before_flush", before_flush)
