"""The JSON the pages add: an event's walls (read by anyone, changed by its
organisers), and the channel names a multiplexed stream will carry."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.db.writer import UnitOfWork
from backchannel.deps import AccountDep, MaybeAccountDep, ServicesDep, SessionDep
from backchannel.errors import BadRequest, Forbidden, NotFound
from backchannel.events import repository as events_repo
from backchannel.events import service as events_service
from backchannel.events.models import Event
from backchannel.people.models import Account
from backchannel.streams.routes import MAX_CHANNELS, resolve
from backchannel.web import repository, service
from backchannel.web.models import Wall
from backchannel.web.schemas import WallCreate, WallUpdate, wall_json

router = APIRouter(tags=["walls"])


async def _event(session: AsyncSession, slug: str) -> Event:
    return await events_service.require_event(session, slug)


def _check_manager(account: Account, event: Event) -> None:
    if not events_service.can_manage(account, event):
        raise Forbidden("only the event's owner or an admin can change its walls")


async def _managed_wall(
    session: AsyncSession, wall_id: int, account: Account
) -> tuple[Wall, Event]:
    wall = await repository.get_wall(session, wall_id)
    event = (
        await events_repo.get_by_id(session, wall.event_id, with_children=False) if wall else None
    )
    if wall is None or event is None:
        raise NotFound(f"no wall {wall_id}")
    _check_manager(account, event)
    return wall, event


@router.get("/api/events/{slug}/walls")
async def list_walls(slug: str, session: SessionDep) -> list[dict[str, Any]]:
    event = await _event(session, slug)
    return [wall_json(w, event.slug) for w in await repository.walls_of(session, event.id)]


@router.post("/api/events/{slug}/walls", status_code=201)
async def create_wall(
    slug: str, body: WallCreate, account: AccountDep, services: ServicesDep
) -> dict[str, Any]:
    """Add a wall to the event (one per room: filter it by the room's session tags)."""

    async def write(uow: UnitOfWork) -> dict[str, Any]:
        event = await _event(uow.session, slug)
        _check_manager(account, event)
        return wall_json(await service.create_wall(uow.session, event, body), event.slug)

    return await services.writer.submit(write)


@router.get("/api/walls/{wall_id}")
async def get_wall(wall_id: int, session: SessionDep) -> dict[str, Any]:
    wall = await repository.get_wall(session, wall_id)
    event = (
        await events_repo.get_by_id(session, wall.event_id, with_children=False) if wall else None
    )
    if wall is None or event is None:
        raise NotFound(f"no wall {wall_id}")
    return wall_json(wall, event.slug)


@router.patch("/api/walls/{wall_id}")
async def update_wall(
    wall_id: int, body: WallUpdate, account: AccountDep, services: ServicesDep
) -> dict[str, Any]:
    async def write(uow: UnitOfWork) -> dict[str, Any]:
        wall, event = await _managed_wall(uow.session, wall_id, account)
        return wall_json(await service.update_wall(uow.session, wall, body), event.slug)

    return await services.writer.submit(write)


@router.delete("/api/walls/{wall_id}", status_code=204)
async def delete_wall(wall_id: int, account: AccountDep, services: ServicesDep) -> Response:
    async def write(uow: UnitOfWork) -> None:
        wall, _ = await _managed_wall(uow.session, wall_id, account)
        await service.delete_wall(uow.session, wall)

    await services.writer.submit(write)
    return Response(status_code=204)


@router.get("/api/web/channels")
async def channel_names(
    services: ServicesDep,
    account: MaybeAccountDep,
    stream: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
) -> dict[str, list[str]]:
    """The channel each ``stream`` (``wall:SLUG``, ``tag:NAME``, ``account:ACCT``) is
    carried on, in order: a multiplexed stream's frames name their channel."""
    if not stream or len(stream) > MAX_CHANNELS:
        raise BadRequest(f"name between 1 and {MAX_CHANNELS} streams")
    return {"channels": [await resolve(spec, services, account) for spec in stream]}
