"""Every query about connectors, their health and the runners' lease."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.connectors.models import Connector, ConnectorLease
from backchannel.events.models import Event, EventTag


async def list_for_event(session: AsyncSession, event_id: int) -> list[Connector]:
    stmt = (
        select(Connector)
        .where(Connector.event_id == event_id)
        .order_by(Connector.kind, Connector.target, Connector.id)
    )
    return list((await session.scalars(stmt)).all())


async def get(session: AsyncSession, event_id: int, connector_id: int) -> Connector | None:
    found = await session.get(Connector, connector_id)
    if found is None or found.event_id != event_id:
        return None
    return found


async def find(session: AsyncSession, event_id: int, kind: str, target: str) -> Connector | None:
    stmt = select(Connector).where(
        Connector.event_id == event_id, Connector.kind == kind, Connector.target == target
    )
    return (await session.scalars(stmt)).first()


async def enabled_with_events(
    session: AsyncSession,
) -> list[tuple[Connector, Event, list[str]]]:
    """Every enabled connector with its event and that event's tags."""
    rows = (
        await session.execute(
            select(Connector, Event)
            .join(Event, Event.id == Connector.event_id)
            .where(Connector.enabled.is_(True))
            .order_by(Connector.id)
        )
    ).all()
    event_ids = {event.id for _, event in rows}
    tags: dict[int, list[str]] = {}
    if event_ids:
        for event_id, tag in (
            await session.execute(
                select(EventTag.event_id, EventTag.tag).where(EventTag.event_id.in_(event_ids))
            )
        ).all():
            tags.setdefault(event_id, []).append(tag)
    return [(connector, event, tags.get(event.id, [])) for connector, event in rows]


async def write_health(
    session: AsyncSession, connector_ids: Sequence[int], values: dict[str, Any]
) -> None:
    if connector_ids:
        await session.execute(
            update(Connector).where(Connector.id.in_(list(connector_ids))).values(**values)
        )


async def stop_others(
    session: AsyncSession, running: Sequence[int], status: str, now: datetime
) -> None:
    """Mark every connector that no runtime serves as ``status`` (stopped)."""
    stmt = update(Connector).where(Connector.status != status)
    if running:
        stmt = stmt.where(Connector.id.not_in(list(running)))
    await session.execute(stmt.values(status=status, health_at=now))


async def claim_lease(
    session: AsyncSession, name: str, holder: str, now: datetime, until: datetime
) -> bool:
    """Take or renew the lease ``name``; True when ``holder`` holds it now."""
    taken = await session.execute(
        update(ConnectorLease)
        .where(
            ConnectorLease.name == name,
            (ConnectorLease.holder == holder) | (ConnectorLease.expires_at < now),
        )
        .values(holder=holder, expires_at=until)
    )
    if getattr(taken, "rowcount", 0) == 1:
        return True
    if await session.get(ConnectorLease, name) is not None:
        return False
    try:
        async with session.begin_nested():
            session.add(ConnectorLease(name=name, holder=holder, expires_at=until))
    except IntegrityError:
        return False  # another process inserted it first
    return True


async def release_lease(session: AsyncSession, name: str, holder: str) -> None:
    await session.execute(
        update(ConnectorLease)
        .where(ConnectorLease.name == name, ConnectorLease.holder == holder)
        .values(holder="", expires_at=datetime(1970, 1, 1, tzinfo=UTC))
    )
