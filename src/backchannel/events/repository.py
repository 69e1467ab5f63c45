"""Every query on events, their tags, sessions and moderators. Nothing here commits."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Select, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from backchannel.events.models import Event, EventModerator, EventTag
from backchannel.people.models import Account


def _with_children(stmt: Select[Event]) -> Select[Event]:
    return stmt.options(selectinload(Event.tags), selectinload(Event.sessions))


async def get_by_slug(
    session: AsyncSession, slug: str, *, with_children: bool = True
) -> Event | None:
    stmt = select(Event).where(Event.slug == slug)
    if with_children:
        stmt = _with_children(stmt)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_by_id(
    session: AsyncSession, event_id: int, *, with_children: bool = True
) -> Event | None:
    stmt = select(Event).where(Event.id == event_id)
    if with_children:
        stmt = _with_children(stmt)
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_events(session: AsyncSession, limit: int, offset: int) -> list[Event]:
    """Events with their tags and sessions, the latest start first."""
    stmt = _with_children(
        select(Event)
        .order_by(Event.starts_at.desc().nulls_last(), Event.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await session.scalars(stmt)).all())


async def events_for_tags(
    session: AsyncSession, tags: Collection[str]
) -> dict[int, tuple[Event, set[str]]]:
    """The events any of ``tags`` counts for, each with the tags that matched.

    Ingest's hot path: one query, no children loaded.
    """
    if not tags:
        return {}
    stmt = (
        select(Event, EventTag.tag)
        .join(EventTag, EventTag.event_id == Event.id)
        .where(EventTag.tag.in_(set(tags)))
    )
    found: dict[int, tuple[Event, set[str]]] = {}
    for event, tag in await session.execute(stmt):
        found.setdefault(event.id, (event, set()))[1].add(tag)
    return found


async def tags_in_use(
    session: AsyncSession, tags: Collection[str], exclude_event_id: int | None = None
) -> list[str]:
    """Those of ``tags`` that another event has as its primary tag.

    Aliases and session tags may be shared between events (a post then counts for
    both); a primary tag names one event, so it may not.
    """
    if not tags:
        return []
    stmt = select(Event.primary_tag).where(Event.primary_tag.in_(set(tags)))
    if exclude_event_id is not None:
        stmt = stmt.where(Event.id != exclude_event_id)
    return sorted(set((await session.scalars(stmt)).all()))


async def slug_taken(session: AsyncSession, slug: str, exclude_event_id: int | None = None) -> bool:
    stmt = select(Event.id).where(Event.slug == slug)
    if exclude_event_id is not None:
        stmt = stmt.where(Event.id != exclude_event_id)
    return (await session.scalar(select(exists(stmt)))) or False


async def delete_event(session: AsyncSession, event_id: int) -> None:
    """Delete an event; the database cascades to its tags, sessions, moderators and posts."""
    await session.execute(
        delete(Event).where(Event.id == event_id).execution_options(synchronize_session=False)
    )


async def is_moderator(session: AsyncSession, event_id: int, account_id: int) -> bool:
    stmt = select(EventModerator.account_id).where(
        EventModerator.event_id == event_id, EventModerator.account_id == account_id
    )
    return (await session.scalar(select(exists(stmt)))) or False


async def add_moderator(session: AsyncSession, event_id: int, account_id: int) -> bool:
    """Make the account a moderator of the event; False if it already was one."""
    if await is_moderator(session, event_id, account_id):
        return False
    session.add(EventModerator(event_id=event_id, account_id=account_id))
    await session.flush()
    return True


async def remove_moderator(session: AsyncSession, event_id: int, account_id: int) -> bool:
    """False if the account was not a moderator of the event."""
    result = await session.execute(
        delete(EventModerator)
        .where(EventModerator.event_id == event_id, EventModerator.account_id == account_id)
        .returning(EventModerator.account_id)
    )
    return result.first() is not None


async def list_moderators(session: AsyncSession, event_id: int) -> list[Account]:
    stmt = (
        select(Account)
        .join(EventModerator, EventModerator.account_id == Account.id)
        .where(EventModerator.event_id == event_id)
        .order_by(Account.acct)
    )
    return list((await session.scalars(stmt)).all())
