"""Periodic upkeep of the persisted streams."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from backchannel.jobs import repository as jobs_repo
from backchannel.jobs.service import JobContext, JobRegistry
from backchannel.kit.clock import utcnow
from backchannel.streams import repository as store

PRUNE = "streams.prune"
PRUNE_EVERY = timedelta(hours=1)
PRUNE_BITE = 2000


def register(registry: JobRegistry) -> None:
    @registry.job(PRUNE)
    async def prune(ctx: JobContext, payload: dict[str, Any]) -> None:
        hours = float(payload.get("retention_hours", 48))
        cutoff = utcnow() - timedelta(hours=hours)
        # In bites, each a short transaction: let the writer and the streams in between.
        cursor: store.PruneCursor | None = ("", False)
        while cursor is not None:
            async with ctx.sessionmaker() as session, session.begin():
                cursor = await store.prune_entries(session, cutoff, cursor=cursor, limit=PRUNE_BITE)
            await asyncio.sleep(0)
        while True:
            async with ctx.sessionmaker() as session, session.begin():
                pruned = await store.prune_payloads(session, cutoff, limit=PRUNE_BITE)
            if pruned < PRUNE_BITE:
                break
            await asyncio.sleep(0)
        async with ctx.sessionmaker() as session, session.begin():
            await jobs_repo.enqueue(
                session,
                PRUNE,
                payload,
                run_after=utcnow() + PRUNE_EVERY,
                dedupe_key=f"{PRUNE}:next",
            )
