"""The native API for events: create, read, change and delete one; name its moderators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.db.writer import UnitOfWork
from backchannel.deps import AccountDep, MaybeAccountDep, OrganiserDep, ServicesDep, SessionDep
from backchannel.events import repository, service
from backchannel.events.models import Event
from backchannel.events.schemas import EventCreate, EventUpdate, event_json
from backchannel.people.models import Account

router = APIRouter(tags=["events"])


class ModeratorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: A local account's username.
    username: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


def account_json(account: Account) -> dict[str, Any]:
    return {
        "id": str(account.id),
        "username": account.username,
        "acct": account.acct,
        "display_name": account.display_name,
    }


async def _event(session: AsyncSession, slug: str, *, with_children: bool = True) -> Event:
    return await service.require_event(session, slug, with_children=with_children)


async def _managed_event(
    session: AsyncSession, slug: str, account: Account, *, with_children: bool = True
) -> Event:
    return await service.require_managed_event(session, slug, account, with_children=with_children)


@router.post("/api/events", status_code=201)
async def create_event(
    body: EventCreate, account: OrganiserDep, services: ServicesDep
) -> dict[str, Any]:
    async def write(uow: UnitOfWork) -> dict[str, Any]:
        event = await service.create_event(uow.session, body, account)
        return event_json(event, include_rules=True)

    return await services.writer.submit(write)


@router.get("/api/events")
async def list_events(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 40,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    events = await repository.list_events(session, limit, offset)
    return [event_json(event, include_rules=False) for event in events]


@router.get("/api/events/{slug}")
async def get_event(slug: str, session: SessionDep, account: MaybeAccountDep) -> dict[str, Any]:
    event = await _event(session, slug)
    moderator = account is not None and await service.can_moderate(session, account, event)
    return event_json(event, include_rules=moderator)


@router.patch("/api/events/{slug}")
async def update_event(
    slug: str, body: EventUpdate, account: AccountDep, services: ServicesDep
) -> dict[str, Any]:
    async def write(uow: UnitOfWork) -> dict[str, Any]:
        event = await _managed_event(uow.session, slug, account)
        event = await service.update_event(uow.session, event, body)
        return event_json(event, include_rules=True)

    return await services.writer.submit(write)


@router.delete("/api/events/{slug}", status_code=204)
async def delete_event(slug: str, account: AccountDep, services: ServicesDep) -> Response:
    async def write(uow: UnitOfWork) -> None:
        event = await _managed_event(uow.session, slug, account, with_children=False)
        await service.delete_event(uow.session, event)

    await services.writer.submit(write)
    return Response(status_code=204)


@router.get("/api/events/{slug}/moderators")
async def list_moderators(
    slug: str, account: AccountDep, session: SessionDep
) -> list[dict[str, Any]]:
    event = await _managed_event(session, slug, account, with_children=False)
    return [account_json(a) for a in await repository.list_moderators(session, event.id)]


@router.post("/api/events/{slug}/moderators", status_code=201)
async def add_moderator(
    slug: str, body: ModeratorIn, account: AccountDep, services: ServicesDep
) -> dict[str, Any]:
    async def write(uow: UnitOfWork) -> dict[str, Any]:
        event = await _managed_event(uow.session, slug, account, with_children=False)
        return account_json(await service.add_moderator(uow.session, event, body.username))

    return await services.writer.submit(write)


@router.delete("/api/events/{slug}/moderators/{username}", status_code=204)
async def remove_moderator(
    slug: str, username: str, account: AccountDep, services: ServicesDep
) -> Response:
    async def write(uow: UnitOfWork) -> None:
        event = await _managed_event(uow.session, slug, account, with_children=False)
        await service.remove_moderator(uow.session, event, username)

    await services.writer.submit(write)
    return Response(status_code=204)
