"""Uploads no post took within a day are forgotten by an hourly job; uploads a post
uses, and recent ones (a post still being written), stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.app import build_registry
from backchannel.jobs.models import Job
from backchannel.jobs.service import JobContext
from backchannel.kit.clock import utcnow
from backchannel.kit.ids import new_id
from backchannel.mastodon_api import media_jobs
from backchannel.mastodon_api.media_models import MediaUpload
from backchannel.people.models import Account
from backchannel.posts.models import Post


def _upload(account_id: int, age: timedelta, post_id: int | None = None) -> MediaUpload:
    return MediaUpload(
        id=new_id(),
        account_id=account_id,
        post_id=post_id,
        key="k",
        content_type="image/png",
        data=b"\x89PNG",
        size=4,
        created_at=utcnow() - age,
    )


async def test_unused_uploads_older_than_a_day_go(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session, session.begin():
        alice = Account(acct="alice", username="alice")
        session.add(alice)
        await session.flush()
        post = Post(
            id=new_id(),
            source="local",
            source_uri="http://x/posts/1",
            author_id=alice.id,
            content_html="<p>hi</p>",
        )
        session.add(post)
        await session.flush()
        old_unused = [_upload(alice.id, timedelta(days=2)) for _ in range(media_jobs.BITE + 3)]
        kept = [
            _upload(alice.id, timedelta(hours=2)),  # a draft still being written
            _upload(alice.id, timedelta(days=3), post_id=post.id),  # shown by a post
        ]
        session.add_all(old_unused + kept)

    handler = build_registry().get(media_jobs.FORGET)
    assert handler is not None
    await handler(JobContext(sessionmaker, job_id=1, attempt=1), {})

    async with sessionmaker() as session:
        left = set((await session.scalars(select(MediaUpload.id))).all())
        assert left == {u.id for u in kept}
        scheduled = await session.scalar(
            select(func.count()).select_from(Job).where(Job.kind == media_jobs.FORGET)
        )
        assert scheduled == 1
