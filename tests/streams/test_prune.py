"""Stream entries older than the retention are pruned in bites, and the next prune is
scheduled; recent entries (what reconnecting clients need) stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.app import build_registry
from backchannel.jobs.models import Job
from backchannel.jobs.service import JobContext
from backchannel.kit.clock import utcnow
from backchannel.streams import jobs as stream_jobs
from backchannel.streams.models import StreamEntry


async def test_old_entries_go_in_bites_and_recent_ones_stay(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    old = utcnow() - timedelta(hours=3)
    rows = [
        {"channel": "tag:old", "seq": n, "event": "post", "data": b"{}", "created_at": old}
        for n in range(1, stream_jobs.PRUNE_BITE * 2 + 500)
    ]
    rows += [
        {"channel": "tag:new", "seq": n, "event": "post", "data": b"{}", "created_at": utcnow()}
        for n in range(1, 11)
    ]
    async with sessionmaker() as session, session.begin():
        await session.execute(insert(StreamEntry), rows)

    handler = build_registry().get(stream_jobs.PRUNE)
    assert handler is not None
    await handler(JobContext(sessionmaker, job_id=1, attempt=1), {"retention_hours": 1})

    async with sessionmaker() as session:
        left = dict(
            (
                await session.execute(
                    select(StreamEntry.channel, func.count()).group_by(StreamEntry.channel)
                )
            ).all()
        )
        assert left == {"tag:new": 10}
        scheduled = await session.scalar(
            select(func.count()).select_from(Job).where(Job.kind == stream_jobs.PRUNE)
        )
        assert scheduled == 1
