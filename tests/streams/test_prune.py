"""Stream entries and payloads older than the retention are pruned in bites, and the
next prune is scheduled; recent ones (what reconnecting clients need) stay. An entry
is as old as its payload's id says."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.app import build_registry
from backchannel.jobs.models import Job
from backchannel.jobs.service import JobContext
from backchannel.kit.clock import utcnow
from backchannel.kit.ids import new_id
from backchannel.streams import jobs as stream_jobs
from backchannel.streams import repository as store
from backchannel.streams.models import StreamEntry, StreamPayload


async def test_old_entries_go_in_bites_and_recent_ones_stay(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    old = utcnow() - timedelta(hours=3)
    old_payloads = [new_id(old) for _ in range(stream_jobs.PRUNE_BITE * 2 + 100)]
    new_payload = new_id()
    rows = [
        {
            "channel": "tag:old",
            "seq": n,
            "event": "post",
            "payload_id": old_payloads[n % len(old_payloads)],
        }
        for n in range(1, stream_jobs.PRUNE_BITE * 2 + 500)
    ]
    rows += [
        {
            "channel": "tag:new",
            "seq": n,
            "event": "post",
            "payload_id": new_payload,
        }
        for n in range(1, 11)
    ]
    # Old entries, then recent ones: only the old go.
    rows += [
        {"channel": "tag:mixed", "seq": n, "event": "post", "payload_id": old_payloads[n]}
        for n in range(1, 6)
    ]
    rows += [
        {"channel": "tag:mixed", "seq": n, "event": "post", "payload_id": new_payload}
        for n in range(6, 9)
    ]
    # More channels than one call looks at, each with one old entry.
    rows += [
        {"channel": f"account:{n:04d}", "seq": 1, "event": "post", "payload_id": old_payloads[0]}
        for n in range(store.PRUNE_CHANNELS + 50)
    ]
    async with sessionmaker() as session, session.begin():
        await session.execute(
            insert(StreamPayload),
            [{"id": i, "data": b"{}"} for i in [*old_payloads, new_payload]],
        )
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
        assert left == {"tag:new": 10, "tag:mixed": 3}
        payloads = (await session.scalars(select(StreamPayload.id))).all()
        assert payloads == [new_payload]
        frames = await store.read_after(session, "tag:new", 0)
        assert [(f.seq, f.data) for f in frames] == [(n, b"{}") for n in range(1, 11)]
        mixed = await store.read_after(session, "tag:mixed", 0)
        assert [f.seq for f in mixed] == [6, 7, 8]
        scheduled = await session.scalar(
            select(func.count()).select_from(Job).where(Job.kind == stream_jobs.PRUNE)
        )
        assert scheduled == 1
