"""Every query on event posts and the audit log."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from backchannel.db.bulk import insert_many
from backchannel.moderation.models import AuditEntry, EventPost, PostState
from backchannel.posts.models import Post


async def get(session: AsyncSession, event_id: int, post_id: int) -> EventPost | None:
    return await session.get(EventPost, (event_id, post_id))


async def for_post(session: AsyncSession, post_id: int) -> list[EventPost]:
    return list(
        (await session.scalars(select(EventPost).where(EventPost.post_id == post_id))).all()
    )


# Built once: asked for every post when an event has a rate limit.
_COUNT_RECENT = (
    select(func.count())
    .select_from(EventPost)
    .where(
        EventPost.event_id == bindparam("event_id"),
        EventPost.author_id == bindparam("author_id"),
        EventPost.received_at >= bindparam("since"),
    )
)


async def count_recent(
    session: AsyncSession, event_id: int, author_id: int, since: datetime
) -> int:
    params = {"event_id": event_id, "author_id": author_id, "since": since}
    value = await session.scalar(_COUNT_RECENT, params)
    return int(value or 0)


class NewEventPosts:
    """Event posts (a new post admitted to an event) that the writes of one group add,
    inserted with one statement (``UnitOfWork.deferred``)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        #: (event id, author id): how many of the rows waiting here are theirs.
        self.waiting: Counter[tuple[int, int]] = Counter()

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.waiting[row["event_id"], row["author_id"]] += 1

    def write(self, session: Session) -> None:
        insert_many(session.connection(), EventPost, self.rows)
        self.rows = []
        self.waiting.clear()


async def visible_posts_of_author(
    session: AsyncSession, event_id: int, author_id: int
) -> list[EventPost]:
    stmt = select(EventPost).where(
        EventPost.event_id == event_id,
        EventPost.author_id == author_id,
        EventPost.state != PostState.HIDDEN.value,
    )
    return list((await session.scalars(stmt)).all())


async def visible_posts_of_author_anywhere(
    session: AsyncSession, author_id: int
) -> list[EventPost]:
    stmt = select(EventPost).where(
        EventPost.author_id == author_id, EventPost.state != PostState.HIDDEN.value
    )
    return list((await session.scalars(stmt)).all())


async def held_posts(session: AsyncSession, event_id: int) -> list[tuple[Post, EventPost]]:
    stmt = (
        select(Post, EventPost)
        .join(EventPost, EventPost.post_id == Post.id)
        .where(EventPost.event_id == event_id, EventPost.held.is_(True))
        .order_by(Post.id)
    )
    return [(p, ep) for p, ep in (await session.execute(stmt)).all()]


async def release_held(session: AsyncSession, event_id: int) -> None:
    await session.execute(
        update(EventPost).where(EventPost.event_id == event_id).values(held=False)
    )


async def audit_log(
    session: AsyncSession, event_id: int, *, limit: int, max_id: int | None = None
) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.event_id == event_id)
    if max_id is not None:
        stmt = stmt.where(AuditEntry.id < max_id)
    return list((await session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit))).all())
