"""Forget uploads no post took: an app that uploads a photo and then drops the draft
would otherwise leave its bytes in the database for good."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from backchannel.jobs import repository as jobs_repo
from backchannel.jobs.service import JobContext, JobRegistry
from backchannel.kit.clock import utcnow
from backchannel.mastodon_api.media_models import MediaUpload

FORGET = "media.forget_unused"
FORGET_EVERY = timedelta(hours=1)
#: As long as Mastodon keeps an unattached upload; a post being written takes minutes.
UNUSED_FOR = timedelta(days=1)
BITE = 500


def register(registry: JobRegistry) -> None:
    @registry.job(FORGET)
    async def forget_unused(ctx: JobContext, payload: dict[str, Any]) -> None:
        cutoff = utcnow() - UNUSED_FOR
        while True:
            async with ctx.sessionmaker() as session, session.begin():
                # Bites by id, so one run never holds the write lock for long.
                ids = (
                    await session.scalars(
                        select(MediaUpload.id)
                        .where(MediaUpload.post_id.is_(None), MediaUpload.created_at < cutoff)
                        .limit(BITE)
                    )
                ).all()
                if ids:
                    # A post may have taken one since: only those still unused go.
                    await session.execute(
                        delete(MediaUpload).where(
                            MediaUpload.id.in_(ids), MediaUpload.post_id.is_(None)
                        )
                    )
            if len(ids) < BITE:
                break
            await asyncio.sleep(0)
        async with ctx.sessionmaker() as session, session.begin():
            await jobs_repo.enqueue(
                session, FORGET, {}, run_after=utcnow() + FORGET_EVERY, dedupe_key=f"{FORGET}:next"
            )
