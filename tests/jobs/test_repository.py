"""The jobs table's queries, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.jobs import repository
from backchannel.jobs.models import Job, JobState
from backchannel.kit.clock import utcnow

Sessionmaker = async_sessionmaker[AsyncSession]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        await asyncio.sleep(0.05)


async def enqueue(sessionmaker: Sessionmaker, kind: str = "k", **kwargs: object) -> int:
    async with sessionmaker.begin() as session:
        job = await repository.enqueue(session, kind, {"n": 1}, **kwargs)  # type: ignore[arg-type]
        assert job is not None
        return job.id


async def claim(sessionmaker: Sessionmaker, worker: str, lease: float = 60) -> Job | None:
    async with sessionmaker.begin() as session:
        return await repository.claim(session, worker, lease)


async def load(sessionmaker: Sessionmaker, job_id: int) -> Job:
    async with sessionmaker() as session:
        job = await session.get(Job, job_id)
        assert job is not None
        return job


async def test_enqueue_claim_finish(sessionmaker: Sessionmaker) -> None:
    job_id = await enqueue(sessionmaker, "greet")

    job = await claim(sessionmaker, "w1", lease=30)

    assert job is not None
    assert (job.id, job.kind, job.payload) == (job_id, "greet", {"n": 1})
    assert (job.state, job.attempts, job.locked_by) == (JobState.RUNNING, 1, "w1")
    assert job.locked_until is not None and job.locked_until > utcnow() + timedelta(seconds=20)
    assert await claim(sessionmaker, "w2") is None

    async with sessionmaker.begin() as session:
        assert await repository.finish(session, job_id, "w1")
    done = await load(sessionmaker, job_id)
    assert (done.state, done.locked_by, done.locked_until) == (JobState.DONE, None, None)
    assert done.finished_at is not None
    assert await claim(sessionmaker, "w2") is None


async def test_enqueue_is_part_of_the_callers_transaction(sessionmaker: Sessionmaker) -> None:
    for dedupe_key in (None, "key"):
        async with sessionmaker() as session:
            await repository.enqueue(session, "k", {}, dedupe_key=dedupe_key)
            await session.flush()
            await session.rollback()  # the request failed

    async with sessionmaker() as session:
        assert (await repository.count_by_state(session))[JobState.QUEUED] == 0
    assert await claim(sessionmaker, "w") is None


async def test_dedupe_key_holds_while_pending_and_frees_after(sessionmaker: Sessionmaker) -> None:
    first = await enqueue(sessionmaker, dedupe_key="refresh:1")
    async with sessionmaker.begin() as session:
        assert await repository.enqueue(session, "k", {}, dedupe_key="refresh:1") is None
        other = await repository.enqueue(session, "k", {}, dedupe_key="refresh:2")
        assert other is not None

    assert (job := await claim(sessionmaker, "w")) is not None and job.id == first
    async with sessionmaker.begin() as session:  # still pending while it runs
        assert await repository.enqueue(session, "k", {}, dedupe_key="refresh:1") is None
        assert await repository.finish(session, first, "w")

    again = await enqueue(sessionmaker, dedupe_key="refresh:1")
    assert again != first
    async with sessionmaker() as session:
        counts = await repository.count_by_state(session)
    assert (counts[JobState.QUEUED], counts[JobState.DONE]) == (2, 1)


async def test_concurrent_claimers_never_share_a_job(sessionmaker: Sessionmaker) -> None:
    ids = {await enqueue(sessionmaker) for _ in range(5)}
    claimed: list[int] = []

    while True:
        jobs = await asyncio.gather(*(claim(sessionmaker, f"w{i}") for i in range(8)))
        got = [job.id for job in jobs if job is not None]
        if not got:
            break
        claimed += got

    assert sorted(claimed) == sorted(ids)  # every job once, none twice


async def test_due_jobs_come_in_run_after_order(sessionmaker: Sessionmaker) -> None:
    now = utcnow()
    later = await enqueue(sessionmaker, run_after=now - timedelta(seconds=1))
    earlier = await enqueue(sessionmaker, run_after=now - timedelta(seconds=5))
    await enqueue(sessionmaker, run_after=now + timedelta(hours=1))

    first, second = await claim(sessionmaker, "w"), await claim(sessionmaker, "w")

    assert first is not None and second is not None
    assert (first.id, second.id) == (earlier, later)
    assert await claim(sessionmaker, "w") is None


async def test_expired_lease_lets_another_worker_take_over(sessionmaker: Sessionmaker) -> None:
    job_id = await enqueue(sessionmaker)
    assert await claim(sessionmaker, "dead", lease=0.3) is not None  # then never heartbeats
    assert await claim(sessionmaker, "alive") is None  # the lease still holds

    taken: list[Job] = []

    async def taken_over() -> bool:
        job = await claim(sessionmaker, "alive")
        if job is not None:
            taken.append(job)
        return bool(taken)

    await eventually(taken_over)
    assert (taken[0].id, taken[0].attempts, taken[0].locked_by) == (job_id, 2, "alive")
    async with sessionmaker.begin() as session:
        assert not await repository.heartbeat(session, job_id, "dead", 60)
        assert not await repository.finish(session, job_id, "dead")
        assert await repository.fail(session, job_id, "dead", "late", None) is None
        assert await repository.heartbeat(session, job_id, "alive", 60)
        assert await repository.finish(session, job_id, "alive")
    assert (await load(sessionmaker, job_id)).state == JobState.DONE


async def test_failure_retries_at_retry_at_then_gives_up(sessionmaker: Sessionmaker) -> None:
    job_id = await enqueue(sessionmaker, max_attempts=3, dedupe_key="once")

    for attempt in (1, 2):
        assert (job := await claim(sessionmaker, "w")) is not None
        assert job.attempts == attempt
        async with sessionmaker.begin() as session:
            retry_at = utcnow() + timedelta(hours=1)
            state = await repository.fail(session, job_id, "w", f"boom {attempt}", retry_at)
        assert state == JobState.QUEUED
        assert await claim(sessionmaker, "w") is None  # not due yet
        queued = await load(sessionmaker, job_id)
        assert (queued.run_after, queued.last_error) == (retry_at, f"boom {attempt}")
        async with sessionmaker.begin() as session:  # time passes
            stored = await session.get(Job, job_id)
            assert stored is not None
            stored.run_after = utcnow() - timedelta(seconds=1)

    assert (job := await claim(sessionmaker, "w")) is not None and job.attempts == 3
    async with sessionmaker.begin() as session:
        state = await repository.fail(session, job_id, "w", "x" * 5000, utcnow())
    assert state == JobState.FAILED
    failed = await load(sessionmaker, job_id)
    assert failed.last_error == "x" * repository.MAX_ERROR_CHARS
    assert failed.finished_at is not None and failed.dedupe_key is None
    assert await claim(sessionmaker, "w") is None


async def test_failure_without_retry_at_is_final(sessionmaker: Sessionmaker) -> None:
    job_id = await enqueue(sessionmaker)
    assert await claim(sessionmaker, "w") is not None

    async with sessionmaker.begin() as session:
        assert await repository.fail(session, job_id, "w", "no", None) == JobState.FAILED

    assert (await load(sessionmaker, job_id)).attempts == 1


async def test_release_gives_the_job_back_uncounted(sessionmaker: Sessionmaker) -> None:
    job_id = await enqueue(sessionmaker)
    assert await claim(sessionmaker, "w") is not None

    async with sessionmaker.begin() as session:
        assert await repository.release(session, job_id, "w")

    job = await claim(sessionmaker, "other")
    assert job is not None and (job.id, job.attempts) == (job_id, 1)


async def test_prune_finished_deletes_only_old_finished_jobs(sessionmaker: Sessionmaker) -> None:
    done, failed, _queued = [await enqueue(sessionmaker) for _ in range(3)]
    for _ in (done, failed):
        assert await claim(sessionmaker, "w") is not None
    async with sessionmaker.begin() as session:
        assert await repository.finish(session, done, "w")
        assert await repository.fail(session, failed, "w", "no", None) == JobState.FAILED

    async with sessionmaker.begin() as session:
        assert await repository.prune_finished(session, utcnow() - timedelta(hours=1)) == 0
        assert await repository.prune_finished(session, utcnow() + timedelta(seconds=1)) == 2
        counts = await repository.count_by_state(session)

    assert counts == {
        JobState.QUEUED: 1,
        JobState.RUNNING: 0,
        JobState.DONE: 0,
        JobState.FAILED: 0,
    }


async def test_enqueue_refuses_zero_attempts(sessionmaker: Sessionmaker) -> None:
    async with sessionmaker() as session:
        with pytest.raises(ValueError, match="max_attempts"):
            await repository.enqueue(session, "k", {}, max_attempts=0)
