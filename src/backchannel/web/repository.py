"""Every query the pages add: walls, and the posts one (filtered) wall shows."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.events import repository as events_repo
from backchannel.events.models import Event
from backchannel.moderation.models import EventPost, PostState
from backchannel.posts.models import Post, PostTag
from backchannel.web.models import Wall


async def get_wall(session: AsyncSession, wall_id: int) -> Wall | None:
    return await session.get(Wall, wall_id)


async def walls_of(session: AsyncSession, event_id: int) -> list[Wall]:
    stmt = select(Wall).where(Wall.event_id == event_id).order_by(Wall.name, Wall.id)
    return list((await session.scalars(stmt)).all())


async def wall_posts(
    session: AsyncSession, event_id: int, tags: Collection[str], limit: int
) -> list[Post]:
    """The newest posts on the event's wall (approved, not held), newest first; with
    ``tags``, only those carrying one of them."""
    stmt = (
        select(Post)
        .join(EventPost, EventPost.post_id == Post.id)
        .where(
            EventPost.event_id == event_id,
            EventPost.state == PostState.APPROVED.value,
            EventPost.held.is_(False),
        )
    )
    if tags:
        tagged = select(PostTag.post_id).where(PostTag.tag.in_(list(tags)))
        stmt = stmt.where(Post.id.in_(tagged))
    stmt = stmt.order_by(EventPost.post_id.desc()).limit(limit)
    return list((await session.scalars(stmt)).all())


async def event_of(session: AsyncSession, wall: Wall) -> Event | None:
    return await events_repo.get_by_id(session, wall.event_id)
