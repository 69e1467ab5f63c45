"""The boundary that commits: every write runs here, in groups.

A write is a coroutine that gets a ``UnitOfWork`` (a session and an outbox of stream
events). The writer runs queued writes together, each in a savepoint so one bad write
fails alone, persists their stream events with sequence numbers, commits once,
then publishes, then answers each caller. So a caller's 2xx follows the commit that
holds its write (a crash loses nothing acknowledged), throughput under load is not
one fsync per post, and in one process frames are published in commit order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.broker.base import Broker
from backchannel.streams import repository as stream_store
from backchannel.streams.frames import Frame

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class UnitOfWork:
    session: AsyncSession
    #: (channel, event, JSON data) to persist and publish after the commit.
    outbox: list[tuple[str, str, bytes]] = field(default_factory=list)
    #: Called after a successful commit (wake the job runner, …).
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    def emit(self, channel: str, event: str, data: bytes) -> None:
        self.outbox.append((channel, event, data))


Write = Callable[[UnitOfWork], Awaitable[T]]


@dataclass
class _Queued:
    write: Write[Any]
    future: asyncio.Future[Any]


class Writer:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        broker: Broker,
        *,
        batch_size: int = 256,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._broker = broker
        self._batch_size = batch_size
        self._queue: asyncio.Queue[_Queued] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="writer")

    async def stop(self) -> None:
        """Finish what is queued (callers are waiting for it), then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None

    async def submit(self, write: Write[T]) -> T:
        """Run ``write`` in the next group; returns after its commit (or raises)."""
        if self._task is None:
            raise RuntimeError("the writer is not running")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Queued(write, future))
        return await future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < self._batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._run_batch(batch)
            except Exception as exc:  # the commit itself failed: nobody's write is durable
                log.exception("write batch failed")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _run_batch(self, batch: list[_Queued]) -> None:
        done: list[tuple[_Queued, Any, UnitOfWork]] = []
        async with self._sessionmaker() as session:
            async with session.begin():
                for item in batch:
                    if item.future.cancelled():
                        continue
                    uow = UnitOfWork(session)
                    try:
                        async with session.begin_nested():
                            result = await item.write(uow)
                            await session.flush()
                    except Exception as exc:
                        item.future.set_exception(exc)
                        continue
                    done.append((item, result, uow))
                pending = [entry for _, _, uow in done for entry in uow.outbox]
                frames: list[Frame] = await stream_store.append(session, pending)
        # Committed. Publish first, so a client that hears back can already see it live.
        try:
            await self._broker.publish(frames)
        except Exception:
            # The frames are persisted; subscribers catch up from the store.
            log.exception("publish failed")
        for item, result, uow in done:
            for callback in uow.after_commit:
                try:
                    callback()
                except Exception:
                    log.exception("after-commit callback failed")
            if not item.future.done():
                item.future.set_result(result)
