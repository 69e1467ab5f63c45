"""What the ``backchannel connector`` commands do, apart from the command line."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.connectors import repository as repo
from backchannel.connectors import service
from backchannel.connectors.opml import parse_opml
from backchannel.connectors.schemas import ConnectorIn, connector_json
from backchannel.errors import BadRequest, NotFound
from backchannel.events.service import require_event

_CONNECTOR_IN: TypeAdapter[Any] = TypeAdapter(ConnectorIn)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"][1:]) or "value"
    return f"{where}: {error['msg']}"


async def add(session: AsyncSession, slug: str, fields: dict[str, Any]) -> dict[str, Any]:
    event = await require_event(session, slug)
    try:
        data = _CONNECTOR_IN.validate_python(fields)
    except ValidationError as exc:
        raise BadRequest(_first_error(exc)) from exc
    return connector_json(await service.create(session, event, data))


async def listing(session: AsyncSession, slug: str) -> list[dict[str, Any]]:
    event = await require_event(session, slug)
    return [connector_json(c) for c in await repo.list_for_event(session, event.id)]


async def remove(session: AsyncSession, slug: str, connector_id: int) -> None:
    event = await require_event(session, slug)
    connector = await repo.get(session, event.id, connector_id)
    if connector is None:
        raise NotFound(f"no connector {connector_id} in the event '{slug}'")
    await session.delete(connector)


async def import_opml(session: AsyncSession, slug: str, data: bytes, match: str) -> dict[str, Any]:
    event = await require_event(session, slug)
    try:
        feeds = parse_opml(data)
    except ValueError as exc:
        raise BadRequest(f"not a usable OPML file: {exc}") from exc
    result = await service.import_opml(session, event, feeds, match=match)
    return {"added": [connector_json(c) for c in result["added"]], "skipped": result["skipped"]}
