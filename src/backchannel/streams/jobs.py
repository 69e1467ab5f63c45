"""Periodic upkeep of the persisted streams."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from backchannel.jobs import repository as jobs_repo
from backchannel.jobs.service import JobContext, JobRegistry
from backchannel.kit.clock import utcnow
from backchannel.streams import repository as store

PRUNE = "streams.prune"
PRUNE_EVERY = timedelta(hours=1)


def register(registry: JobRegistry) -> None:
    @registry.job(PRUNE)
    async def prune(ctx: JobContext, payload: dict[str, Any]) -> None:
        hours = float(payload.get("retention_hours", 48))
        async with ctx.sessionmaker() as session, session.begin():
            await store.prune(session, utcnow() - timedelta(hours=hours))
            await jobs_repo.enqueue(
                session,
                PRUNE,
                payload,
                run_after=utcnow() + PRUNE_EVERY,
                dedupe_key=f"{PRUNE}:next",
            )
