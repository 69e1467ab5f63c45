"""Use cases for walls: create, change and delete one. Nothing here commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.events.models import Event
from backchannel.kit.clock import utcnow
from backchannel.kit.ids import new_id
from backchannel.web.models import Wall
from backchannel.web.schemas import WallCreate, WallUpdate


async def create_wall(session: AsyncSession, event: Event, data: WallCreate) -> Wall:
    wall = Wall(
        id=new_id(),
        event_id=event.id,
        name=data.name,
        tags=list(dict.fromkeys(data.tags)),
        layout=data.layout.value,
        theme=data.theme.value,
        accent=data.accent,
        background=data.background,
        logo_url=data.logo_url,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(wall)
    await session.flush()
    return wall


async def update_wall(session: AsyncSession, wall: Wall, data: WallUpdate) -> Wall:
    given = data.model_fields_set
    if data.name is not None:
        wall.name = data.name
    if data.tags is not None:
        wall.tags = list(dict.fromkeys(data.tags))
    if data.layout is not None:
        wall.layout = data.layout.value
    if data.theme is not None:
        wall.theme = data.theme.value
    # Colours and the logo may be cleared with an explicit null.
    if "accent" in given:
        wall.accent = data.accent
    if "background" in given:
        wall.background = data.background
    if "logo_url" in given:
        wall.logo_url = data.logo_url
    wall.updated_at = utcnow()
    await session.flush()
    return wall


async def delete_wall(session: AsyncSession, wall: Wall) -> None:
    await session.delete(wall)
    await session.flush()
