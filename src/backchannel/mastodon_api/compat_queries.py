"""Queries of the smaller endpoints apps call at startup: read markers, trending tags."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.events.models import Event
from backchannel.mastodon_api.notification_models import Marker, MarkerTimeline


async def marker(session: AsyncSession, account_id: int, timeline: MarkerTimeline) -> Marker | None:
    return await session.get(Marker, (account_id, timeline.value))


async def markers(
    session: AsyncSession, account_id: int, timelines: Collection[MarkerTimeline]
) -> list[Marker]:
    if not timelines:
        return []
    stmt = select(Marker).where(
        Marker.account_id == account_id, Marker.timeline.in_([t.value for t in timelines])
    )
    return list((await session.scalars(stmt)).all())


async def set_marker(
    session: AsyncSession,
    account_id: int,
    timeline: MarkerTimeline,
    last_read_id: int,
    at: datetime,
) -> Marker:
    """Move the marker (made the first time), counting the change in ``version``."""
    found = await marker(session, account_id, timeline)
    if found is None:
        found = Marker(account_id=account_id, timeline=timeline.value, version=0)
        session.add(found)
    found.last_read_id = last_read_id
    found.version += 1
    found.updated_at = at
    await session.flush()
    return found


async def current_event_tags(
    session: AsyncSession, now: datetime, limit: int, offset: int
) -> list[str]:
    """The primary tags of the events on now (an event without dates is always on),
    the latest to start first."""
    stmt = (
        select(Event.primary_tag)
        .where(
            or_(Event.starts_at.is_(None), Event.starts_at <= now),
            or_(Event.ends_at.is_(None), Event.ends_at >= now),
        )
        .order_by(Event.starts_at.desc().nulls_last(), Event.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await session.scalars(stmt)).all())
