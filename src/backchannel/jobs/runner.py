"""Runs durable jobs: claims them from the database, runs their handlers, records the end.

The same runner works inside ``backchannel serve`` and in ``backchannel worker``
processes; any number of them can share one database.

Every database step is its own short transaction: the claim commits before the
handler starts, and finishing or failing is another one afterwards. While a handler
runs, a heartbeat extends the job's lease every third of ``lease_seconds``. A worker
that dies stops heartbeating; once its lease runs out another worker claims the job
and runs it *again from the start*. So **handlers must be idempotent**: a handler
may run more than once for one job, including after it already did (and committed)
part or all of its work. Check before acting, or make the effect an upsert.

A handler gets a :class:`~backchannel.jobs.service.JobContext` with the sessionmaker
and commits its own work. When it raises, the job is queued again after
:func:`~backchannel.jobs.service.backoff` until ``max_attempts`` are used up; a job
of a kind nobody registered fails at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.jobs import repository
from backchannel.jobs.models import Job
from backchannel.jobs.service import JobContext, JobRegistry, backoff
from backchannel.kit.clock import utcnow

logger = logging.getLogger(__name__)


def default_worker_id() -> str:
    """``host:pid:random`` — unique per runner, and readable in ``jobs.locked_by``."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"


class JobRunner:
    """Claims due jobs and runs up to ``concurrency`` of them at a time."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        registry: JobRegistry,
        *,
        worker_id: str | None = None,
        concurrency: int = 4,
        lease_seconds: float = 60,
        poll_interval: float = 1.0,
        extra: dict[str, Any] | None = None,
        retry_delay: Callable[[int], timedelta] = backoff,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if lease_seconds <= 0 or poll_interval <= 0:
            raise ValueError("lease_seconds and poll_interval must be positive")
        self.sessionmaker = sessionmaker
        self.registry = registry
        self.worker_id = worker_id or default_worker_id()
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.extra = extra if extra is not None else {}
        #: Delay before retrying after failed attempt n (tests pass a zero delay).
        self.retry_delay = retry_delay
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._dispatcher: asyncio.Task[None] | None = None
        self._running: dict[asyncio.Task[None], int] = {}

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Start claiming in the background; returns at once."""
        if self._dispatcher is not None:
            raise RuntimeError("this JobRunner is already started")
        self._stopping = False
        self._dispatcher = asyncio.create_task(self._dispatch(), name="jobs-dispatcher")
        logger.info("job runner %s started (concurrency %d)", self.worker_id, self.concurrency)

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming, let running jobs finish for up to ``timeout`` seconds.

        Jobs still running then are cancelled and given back to the queue (due at
        once, the attempt not counted), so another worker picks them up without
        waiting for the lease to run out.
        """
        dispatcher, self._dispatcher = self._dispatcher, None
        if dispatcher is None:
            return
        self._stopping = True
        self._wakeup.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # The dispatcher only blocks in a database call; give it the same deadline.
        await asyncio.wait([dispatcher], timeout=timeout)
        if not dispatcher.done():
            dispatcher.cancel()
            await asyncio.wait([dispatcher])
        running = dict(self._running)
        if running:
            await asyncio.wait(running, timeout=max(deadline - loop.time(), 0))
        unfinished = {task: job_id for task, job_id in running.items() if not task.done()}
        for task in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.wait(unfinished)
            for job_id in unfinished.values():
                await self._release(job_id)
        logger.info("job runner %s stopped", self.worker_id)

    def wake(self) -> None:
        """Claim now instead of at the next poll (call after committing an enqueue)."""
        self._wakeup.set()

    async def run_until_idle(self) -> int:
        """Claim and run jobs one at a time until none is due; how many ran (for tests).

        Not meant to be combined with :meth:`start` on the same runner.
        """
        ran = 0
        while (job := await self._claim()) is not None:
            await self._run(job)
            ran += 1
        return ran

    # -- claiming ----------------------------------------------------------------

    async def _dispatch(self) -> None:
        while True:
            # Cleared before the checks, with no await in between, so a wake() or a
            # finishing job that comes later is never lost.
            self._wakeup.clear()
            if self._stopping:
                return
            if len(self._running) >= self.concurrency:
                await self._wakeup.wait()
                continue
            try:
                job = await self._claim()
            except Exception:
                logger.exception("job runner %s could not claim a job", self.worker_id)
                job = None
            if job is None:
                await self._idle()
                continue
            task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
            self._running[task] = job.id
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        self._wakeup.set()

    async def _idle(self) -> None:
        try:
            async with asyncio.timeout(self.poll_interval):
                await self._wakeup.wait()
        except TimeoutError:
            pass

    async def _claim(self) -> Job | None:
        async with self.sessionmaker.begin() as session:
            return await repository.claim(session, self.worker_id, self.lease_seconds)

    # -- running -----------------------------------------------------------------

    async def _run(self, job: Job) -> None:
        handler = self.registry.get(job.kind)
        if handler is None:
            logger.error("job %d has unknown kind %r; failing it", job.id, job.kind)
            await self._fail(job, f"unknown job kind {job.kind!r}", retry=False)
            return
        if job.attempts > job.max_attempts:
            # Only leases that ran out get here: the job kept killing its workers.
            message = f"gave up after {job.max_attempts} attempts (workers lost the lease)"
            logger.error("job %d (%s): %s", job.id, job.kind, message)
            await self._fail(job, message, retry=False)
            return
        context = JobContext(self.sessionmaker, job.id, job.attempts, self.extra)
        heartbeat = asyncio.create_task(self._heartbeat(job.id), name=f"job-{job.id}-lease")
        try:
            await handler(context, job.payload)
        except Exception as exc:
            logger.warning(
                "job %d (%s) attempt %d/%d failed: %r",
                job.id,
                job.kind,
                job.attempts,
                job.max_attempts,
                exc,
                exc_info=True,
            )
            error: str | None = repr(exc)
        else:
            error = None
        finally:
            heartbeat.cancel()
            # asyncio.wait neither raises the heartbeat's cancellation nor swallows ours.
            await asyncio.wait([heartbeat])
        if error is None:
            await self._finish(job)
        else:
            await self._fail(job, error, retry=True)

    async def _heartbeat(self, job_id: int) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                async with self.sessionmaker.begin() as session:
                    held = await repository.heartbeat(
                        session, job_id, self.worker_id, self.lease_seconds
                    )
            except Exception:
                logger.warning("job %d: extending the lease failed", job_id, exc_info=True)
                continue
            if not held:
                logger.warning("job %d: lease lost; another worker may run it", job_id)
                return

    # -- recording the end: a failure here leaves the job to its lease -------------

    async def _finish(self, job: Job) -> None:
        try:
            async with self.sessionmaker.begin() as session:
                held = await repository.finish(session, job.id, self.worker_id)
        except Exception:
            logger.exception("job %d: could not mark it done", job.id)
            return
        if not held:
            logger.warning("job %d finished after its lease was taken over", job.id)

    async def _fail(self, job: Job, error: str, *, retry: bool) -> None:
        retry_at = utcnow() + self.retry_delay(job.attempts) if retry else None
        try:
            async with self.sessionmaker.begin() as session:
                state = await repository.fail(session, job.id, self.worker_id, error, retry_at)
        except Exception:
            logger.exception("job %d: could not record its failure", job.id)
            return
        if state is not None:
            logger.info("job %d (%s) is now %s", job.id, job.kind, state)

    async def _release(self, job_id: int) -> None:
        try:
            async with self.sessionmaker.begin() as session:
                await repository.release(session, job_id, self.worker_id)
        except Exception:
            logger.exception("job %d: could not give it back; its lease will run out", job_id)
