"""Every query on the ``jobs`` table.

None of these functions commit: the caller owns the transaction. The runner wraps
each call in its own short transaction; a request that enqueues a job commits it
together with the rest of its work, so a request that rolls back leaves no job.

Claiming is portable (SQLite and PostgreSQL, no ``FOR UPDATE SKIP LOCKED``): one
``UPDATE … WHERE id = (SELECT … LIMIT 1) AND <claimable> RETURNING``. Repeating the
claimable condition in the outer ``WHERE`` is what makes it safe: on PostgreSQL a
second claimer that picked the same row waits for the first one's row lock, then
re-checks the condition against the committed row, finds it taken and updates
nothing; on SQLite the database-wide write lock serialises claimers outright.

``dedupe_key`` names *pending* work: it is set only while a job is queued or
running and is cleared when the job reaches ``done`` or ``failed``, so the unique
constraint on the column means "at most one pending job per key" and the same key
can be enqueued again once that job is over.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    and_,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from backchannel.db.base import UTCDateTime
from backchannel.jobs.models import Job, JobState
from backchannel.kit.clock import utcnow
from backchannel.kit.ids import new_id

#: ``last_error`` keeps this many characters: enough for a traceback's last line.
MAX_ERROR_CHARS = 2000

_FINISHED = (JobState.DONE.value, JobState.FAILED.value)


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    run_after: datetime | None = None,
    max_attempts: int = 8,
    dedupe_key: str | None = None,
) -> Job | None:
    """Queue a job in the caller's transaction; it exists once the caller commits.

    With a ``dedupe_key`` that a queued or running job already holds, nothing is
    queued and None is returned. That case is an ``INSERT … ON CONFLICT DO NOTHING``
    sent at once (it cannot wait for the flush: the answer depends on it); without
    a key the job is only added to the session and flushed with the caller's work.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    now = utcnow()
    values: dict[str, Any] = {
        "id": new_id(),
        "kind": kind,
        "payload": payload,
        "state": JobState.QUEUED.value,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": now if run_after is None else run_after,
        "locked_by": None,
        "locked_until": None,
        "last_error": "",
        "dedupe_key": dedupe_key,
        "created_at": now,
        "finished_at": None,
    }
    if dedupe_key is None:
        job = Job(**values)
        session.add(job)
        return job
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        pg_stmt = postgresql.insert(Job).values(values)
        stmt = pg_stmt.on_conflict_do_nothing(index_elements=[Job.dedupe_key]).returning(Job)
    elif dialect == "sqlite":
        lite_stmt = sqlite.insert(Job).values(values)
        stmt = lite_stmt.on_conflict_do_nothing(index_elements=[Job.dedupe_key]).returning(Job)
    else:  # pragma: no cover - only the two supported backends reach here
        raise NotImplementedError(f"enqueue with dedupe_key on {dialect}")
    result = await session.scalars(stmt)
    return result.one_or_none()


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(Job.state == JobState.QUEUED.value, Job.run_after <= now),
        # A running job whose lease ran out: its worker died or hung.
        and_(Job.state == JobState.RUNNING.value, Job.locked_until < now),
    )


async def claim(session: AsyncSession, worker_id: str, lease_seconds: float) -> Job | None:
    """Take the next due job for ``worker_id`` for ``lease_seconds``; None when none is.

    Counts an attempt. A concurrent claimer may get None although other jobs are
    due (it lost the race for the same row); callers simply try again.
    """
    now = utcnow()
    next_id = (
        select(Job.id)
        .where(_claimable(now))
        .order_by(Job.run_after, Job.id)
        .limit(1)
        .scalar_subquery()
    )
    stmt = (
        update(Job)
        .where(Job.id == next_id, _claimable(now))
        .values(
            state=JobState.RUNNING.value,
            locked_by=worker_id,
            locked_until=now + timedelta(seconds=lease_seconds),
            attempts=Job.attempts + 1,
        )
        .returning(Job)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    result = await session.scalars(stmt)
    return result.one_or_none()


def _held_by(job_id: int, worker_id: str) -> ColumnElement[bool]:
    return and_(Job.id == job_id, Job.state == JobState.RUNNING.value, Job.locked_by == worker_id)


async def heartbeat(
    session: AsyncSession, job_id: int, worker_id: str, lease_seconds: float
) -> bool:
    """Extend the lease; False when ``worker_id`` no longer holds the job."""
    stmt = (
        update(Job)
        .where(_held_by(job_id, worker_id))
        .values(locked_until=utcnow() + timedelta(seconds=lease_seconds))
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def finish(session: AsyncSession, job_id: int, worker_id: str) -> bool:
    """Mark the job done; False when ``worker_id`` had lost it (another worker has it)."""
    stmt = (
        update(Job)
        .where(_held_by(job_id, worker_id))
        .values(
            state=JobState.DONE.value,
            locked_by=None,
            locked_until=None,
            finished_at=utcnow(),
            dedupe_key=None,
        )
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def fail(
    session: AsyncSession,
    job_id: int,
    worker_id: str,
    error: str,
    retry_at: datetime | None,
) -> JobState | None:
    """Record a failed attempt: queued again at ``retry_at``, or failed for good.

    The job fails for good when ``retry_at`` is None or its attempts are used up.
    Returns the new state, or None when ``worker_id`` no longer held the job.
    """
    now = utcnow()
    gives_up: ColumnElement[bool]
    if retry_at is None:
        gives_up = true()
    else:
        gives_up = Job.attempts >= Job.max_attempts
    values: dict[str, Any] = {
        "state": case((gives_up, JobState.FAILED.value), else_=JobState.QUEUED.value),
        "locked_by": None,
        "locked_until": None,
        "last_error": error[:MAX_ERROR_CHARS],
        "finished_at": case((gives_up, literal(now, UTCDateTime())), else_=None),
        "dedupe_key": case((gives_up, None), else_=Job.dedupe_key),
    }
    if retry_at is not None:
        values["run_after"] = retry_at
    stmt = (
        update(Job)
        .where(_held_by(job_id, worker_id))
        .values(values)
        .returning(Job.state)
        .execution_options(synchronize_session=False)
    )
    state = (await session.execute(stmt)).scalar_one_or_none()
    return None if state is None else JobState(state)


async def release(session: AsyncSession, job_id: int, worker_id: str) -> bool:
    """Give a job back unfinished (the worker is shutting down): due now, attempt uncounted."""
    stmt = (
        update(Job)
        .where(_held_by(job_id, worker_id))
        .values(
            state=JobState.QUEUED.value,
            locked_by=None,
            locked_until=None,
            run_after=utcnow(),
            attempts=Job.attempts - 1,
        )
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def count_by_state(session: AsyncSession) -> dict[JobState, int]:
    """How many jobs are in each state (every state present, zero included)."""
    counts = dict.fromkeys(JobState, 0)
    rows = await session.execute(select(Job.state, func.count()).group_by(Job.state))
    for state, count in rows:
        counts[JobState(state)] = count
    return counts


async def prune_finished(session: AsyncSession, older_than: datetime) -> int:
    """Delete done and failed jobs that finished before ``older_than``; how many."""
    stmt = (
        delete(Job)
        .where(Job.state.in_(_FINISHED), Job.finished_at < older_than)
        .execution_options(synchronize_session=False)
    )
    result = cast(CursorResult[Any], await session.execute(stmt))
    return result.rowcount
