"""The native API for an event's connectors: list them with their health, add,
change and remove one, and import many feeds from an OPML file."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from backchannel.connectors import repository as repo
from backchannel.connectors import service
from backchannel.connectors.opml import parse_opml
from backchannel.connectors.schemas import (
    ConnectorIn,
    ConnectorUpdate,
    connector_json,
    parse_connector_id,
)
from backchannel.connectors.supervisor import wake_after_commit
from backchannel.db.writer import UnitOfWork
from backchannel.deps import AccountDep, ServicesDep, SessionDep
from backchannel.errors import BadRequest, NotFound
from backchannel.events.service import require_managed_event, require_moderated_event

router = APIRouter(tags=["connectors"])


@router.get("/api/events/{slug}/connectors")
async def list_connectors(
    slug: str, account: AccountDep, session: SessionDep
) -> list[dict[str, Any]]:
    """Every connector of the event with its health; for its moderators."""
    event = await require_moderated_event(session, slug, account)
    return [connector_json(c) for c in await repo.list_for_event(session, event.id)]


@router.post("/api/events/{slug}/connectors", status_code=201)
async def add_connector(
    slug: str, body: ConnectorIn, account: AccountDep, services: ServicesDep
) -> dict[str, Any]:
    async def write(uow: UnitOfWork) -> dict[str, Any]:
        event = await require_managed_event(uow.session, slug, account)
        wake_after_commit(uow, services.extra)
        return connector_json(await service.create(uow.session, event, body))

    return await services.writer.submit(write)


@router.patch("/api/events/{slug}/connectors/{connector_id}")
async def change_connector(
    slug: str, connector_id: str, body: ConnectorUpdate, account: AccountDep, services: ServicesDep
) -> dict[str, Any]:
    wanted = parse_connector_id(connector_id)

    async def write(uow: UnitOfWork) -> dict[str, Any]:
        event = await require_managed_event(uow.session, slug, account)
        connector = await repo.get(uow.session, event.id, wanted)
        if connector is None:
            raise NotFound(f"no connector with the id '{connector_id}' in this event")
        service.update(connector, body)
        wake_after_commit(uow, services.extra)
        await uow.session.flush()
        return connector_json(connector)

    return await services.writer.submit(write)


@router.delete("/api/events/{slug}/connectors/{connector_id}", status_code=204)
async def remove_connector(
    slug: str, connector_id: str, account: AccountDep, services: ServicesDep
) -> Response:
    wanted = parse_connector_id(connector_id)

    async def write(uow: UnitOfWork) -> None:
        event = await require_managed_event(uow.session, slug, account)
        connector = await repo.get(uow.session, event.id, wanted)
        if connector is None:
            raise NotFound(f"no connector with the id '{connector_id}' in this event")
        await uow.session.delete(connector)
        wake_after_commit(uow, services.extra)

    await services.writer.submit(write)
    return Response(status_code=204)


@router.post("/api/events/{slug}/connectors/opml", status_code=201)
async def import_opml(
    slug: str,
    request: Request,
    account: AccountDep,
    services: ServicesDep,
    match: Annotated[Literal["all", "tagged"], Query()] = "all",
) -> dict[str, Any]:
    """Register every feed of an OPML file (the request body) with the event."""
    body = await request.body()
    if not body.strip():
        raise BadRequest("send the OPML file as the request body")
    try:
        feeds = parse_opml(body)
    except ValueError as exc:
        raise BadRequest(f"not a usable OPML file: {exc}") from exc

    async def write(uow: UnitOfWork) -> dict[str, Any]:
        event = await require_managed_event(uow.session, slug, account)
        result = await service.import_opml(uow.session, event, feeds, match=match)
        wake_after_commit(uow, services.extra)
        return {
            "added": [connector_json(c) for c in result["added"]],
            "skipped": result["skipped"],
        }

    return await services.writer.submit(write)
