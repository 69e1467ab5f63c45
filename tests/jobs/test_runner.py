"""The job runner: handlers, retries, leases and shutdown, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.jobs import repository
from backchannel.jobs.models import Job, JobState
from backchannel.jobs.runner import JobRunner
from backchannel.jobs.service import BACKOFF_CAP, JobContext, JobRegistry, backoff, enqueue
from backchannel.jobs.worker import run_worker

Sessionmaker = async_sessionmaker[AsyncSession]


def no_delay(attempt: int) -> timedelta:
    return timedelta(0)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        await asyncio.sleep(0.02)


async def add_job(
    sessionmaker: Sessionmaker, kind: str, payload: dict[str, Any], **kwargs: Any
) -> int:
    async with sessionmaker.begin() as session:
        job = await enqueue(session, kind, payload, **kwargs)
        assert job is not None
        return job.id


async def load(sessionmaker: Sessionmaker, job_id: int) -> Job:
    async with sessionmaker() as session:
        job = await session.get(Job, job_id)
        assert job is not None
        return job


def state_is(
    sessionmaker: Sessionmaker, job_id: int, state: JobState
) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return (await load(sessionmaker, job_id)).state == state

    return check


async def test_run_until_idle_runs_each_handler(sessionmaker: Sessionmaker) -> None:
    registry = JobRegistry()
    seen: list[tuple[str, int, int, dict[str, Any], object]] = []

    @registry.job("greet")
    async def greet(ctx: JobContext, payload: dict[str, Any]) -> None:
        seen.append(("greet", ctx.job_id, ctx.attempt, payload, ctx.extra["service"]))

    @registry.job("count")
    async def count(ctx: JobContext, payload: dict[str, Any]) -> None:
        async with ctx.sessionmaker() as session:  # handlers open their own sessions
            counts = await repository.count_by_state(session)
        seen.append(("count", ctx.job_id, ctx.attempt, payload, counts[JobState.RUNNING]))

    first = await add_job(sessionmaker, "greet", {"to": "you"})
    second = await add_job(sessionmaker, "count", {})
    runner = JobRunner(sessionmaker, registry, extra={"service": "svc"})

    assert await runner.run_until_idle() == 2

    assert seen == [("greet", first, 1, {"to": "you"}, "svc"), ("count", second, 1, {}, 1)]
    assert (await load(sessionmaker, first)).state == JobState.DONE
    assert (await load(sessionmaker, second)).state == JobState.DONE
    assert await runner.run_until_idle() == 0


async def test_a_failing_job_is_retried_then_fails(sessionmaker: Sessionmaker) -> None:
    registry = JobRegistry()
    attempts: list[int] = []

    @registry.job("flaky")
    async def flaky(ctx: JobContext, payload: dict[str, Any]) -> None:
        attempts.append(ctx.attempt)
        raise RuntimeError("remote said no " + "!" * 3000)

    job_id = await add_job(sessionmaker, "flaky", {}, max_attempts=3)

    await JobRunner(sessionmaker, registry, retry_delay=no_delay).run_until_idle()

    assert attempts == [1, 2, 3]
    job = await load(sessionmaker, job_id)
    assert (job.state, job.attempts) == (JobState.FAILED, 3)
    assert job.last_error.startswith("RuntimeError('remote said no !!!")
    assert len(job.last_error) == 2000


async def test_a_failure_waits_for_the_backoff(sessionmaker: Sessionmaker) -> None:
    registry = JobRegistry()

    @registry.job("flaky")
    async def flaky(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise ValueError("no")

    job_id = await add_job(sessionmaker, "flaky", {})

    assert await JobRunner(sessionmaker, registry).run_until_idle() == 1

    job = await load(sessionmaker, job_id)
    assert (job.state, job.attempts, job.last_error) == (JobState.QUEUED, 1, "ValueError('no')")
    assert job.run_after - job.created_at >= timedelta(seconds=5)


async def test_unknown_kind_fails_at_once(sessionmaker: Sessionmaker) -> None:
    job_id = await add_job(sessionmaker, "nobody-knows", {})

    await JobRunner(sessionmaker, JobRegistry()).run_until_idle()

    job = await load(sessionmaker, job_id)
    assert (job.state, job.attempts) == (JobState.FAILED, 1)
    assert "nobody-knows" in job.last_error


async def test_a_job_that_keeps_losing_its_workers_fails(sessionmaker: Sessionmaker) -> None:
    job_id = await add_job(sessionmaker, "crashy", {}, max_attempts=1)
    async with sessionmaker.begin() as session:  # a worker claims it and dies
        assert await repository.claim(session, "dead", 0.1) is not None
    ran: list[int] = []
    registry = JobRegistry()

    @registry.job("crashy")
    async def crashy(ctx: JobContext, payload: dict[str, Any]) -> None:
        ran.append(ctx.attempt)

    runner = JobRunner(sessionmaker, registry)

    async def taken_over_and_failed() -> bool:
        await runner.run_until_idle()
        return (await load(sessionmaker, job_id)).state == JobState.FAILED

    await eventually(taken_over_and_failed)
    assert ran == []
    job = await load(sessionmaker, job_id)
    assert job.attempts == 2 and "lost the lease" in job.last_error


async def test_started_runner_wakes_on_enqueue(sessionmaker: Sessionmaker) -> None:
    registry = JobRegistry()
    ran = asyncio.Event()

    @registry.job("ping")
    async def ping(ctx: JobContext, payload: dict[str, Any]) -> None:
        ran.set()

    runner = JobRunner(sessionmaker, registry, poll_interval=60)
    await runner.start()
    try:
        await asyncio.sleep(0.1)  # let it go idle: the next poll is a minute away
        job_id = await add_job(sessionmaker, "ping", {})
        runner.wake()
        await asyncio.wait_for(ran.wait(), 10)
        await eventually(state_is(sessionmaker, job_id, JobState.DONE))
    finally:
        await runner.stop()


async def test_runner_runs_jobs_concurrently(sessionmaker: Sessionmaker) -> None:
    registry = JobRegistry()
    started = 0
    all_started = asyncio.Event()
    release = asyncio.Event()

    @registry.job("wait")
    async def wait(ctx: JobContext, payload: dict[str, Any]) -> None:
        nonlocal started
        started += 1
        if started == 3:
            all_started.set()
        await release.wait()

    ids = [await add_job(sessionmaker, "wait", {}) for _ in range(4)]
    runner = JobRunner(sessionmaker, registry, concurrency=3, poll_interval=0.05)
    await runner.start()
    try:
        await asyncio.wait_for(all_started.wait(), 10)
        async with sessionmaker() as session:
            counts = await repository.count_by_state(session)
        assert (counts[JobState.RUNNING], counts[JobState.QUEUED]) == (3, 1)
        release.set()
        for job_id in ids:
            await eventually(state_is(sessionmaker, job_id, JobState.DONE))
    finally:
        release.set()
        await runner.stop()


async def test_heartbeat_keeps_a_long_job_from_being_stolen(sessionmaker: Sessionmaker) -> None:
    registry = JobRegistry()
    started = asyncio.Event()
    release = asyncio.Event()

    @registry.job("long")
    async def long(ctx: JobContext, payload: dict[str, Any]) -> None:
        started.set()
        await release.wait()

    job_id = await add_job(sessionmaker, "long", {})
    lease = 0.6
    runner = JobRunner(sessionmaker, registry, lease_seconds=lease, poll_interval=0.05)
    await runner.start()
    try:
        await asyncio.wait_for(started.wait(), 10)
        loop = asyncio.get_running_loop()
        watch_until = loop.time() + 4 * lease  # well past the first lease
        while loop.time() < watch_until:
            async with sessionmaker.begin() as session:
                assert await repository.claim(session, "thief", lease) is None
            await asyncio.sleep(0.05)
        release.set()
        await eventually(state_is(sessionmaker, job_id, JobState.DONE))
    finally:
        release.set()
        await runner.stop()
    assert (await load(sessionmaker, job_id)).attempts == 1


async def test_stop_waits_for_running_jobs(sessionmaker: Sessionmaker) -> None:
    registry = JobRegistry()
    started = asyncio.Event()

    @registry.job("short")
    async def short(ctx: JobContext, payload: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(0.3)

    job_id = await add_job(sessionmaker, "short", {})
    runner = JobRunner(sessionmaker, registry, poll_interval=0.05)
    await runner.start()
    await asyncio.wait_for(started.wait(), 10)

    await runner.stop(timeout=10)

    assert (await load(sessionmaker, job_id)).state == JobState.DONE


async def test_stop_gives_back_a_job_that_does_not_end(sessionmaker: Sessionmaker) -> None:
    registry = JobRegistry()
    started = asyncio.Event()
    cancelled = asyncio.Event()

    @registry.job("stuck")
    async def stuck(ctx: JobContext, payload: dict[str, Any]) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    job_id = await add_job(sessionmaker, "stuck", {})
    runner = JobRunner(sessionmaker, registry, poll_interval=0.05)
    await runner.start()
    await asyncio.wait_for(started.wait(), 10)

    await runner.stop(timeout=0.2)

    assert cancelled.is_set()
    job = await load(sessionmaker, job_id)
    assert (job.state, job.attempts, job.locked_by) == (JobState.QUEUED, 0, None)


async def test_run_worker_runs_until_stopped(sessionmaker: Sessionmaker) -> None:
    registry = JobRegistry()

    @registry.job("ping")
    async def ping(ctx: JobContext, payload: dict[str, Any]) -> None:
        pass

    job_id = await add_job(sessionmaker, "ping", {})
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(sessionmaker, registry, stop=stop, concurrency=2, poll_interval=0.05)
    )
    try:
        await eventually(state_is(sessionmaker, job_id, JobState.DONE))
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(7)
    for attempt in range(1, 8):
        nominal = 10 * 2 ** (attempt - 1)
        for _ in range(50):
            delay = backoff(attempt, rng=rng).total_seconds()
            assert nominal / 2 <= delay <= nominal
    assert backoff(30, rng=rng) <= BACKOFF_CAP
    assert backoff(10_000, rng=rng) >= BACKOFF_CAP / 2


def test_registry_refuses_a_kind_twice() -> None:
    registry = JobRegistry()

    @registry.job("once")
    async def once(ctx: JobContext, payload: dict[str, Any]) -> None:
        pass

    assert registry.get("once") is once and "once" in registry
    with pytest.raises(ValueError, match="twice"):
        registry.add("once", once)
    with pytest.raises(ValueError, match="characters"):
        registry.add("x" * 65, once)
