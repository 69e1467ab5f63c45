"""``/api/v1/notifications``: mentions, favourites, boosts and follows, newest first.

``notify`` writes them as they happen; here they are read, paged by id with a
``Link`` header as the timelines are, dismissed one by one or cleared. What is
dismissed or cleared is deleted.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.db.writer import UnitOfWork
from backchannel.deps import Services, ServicesDep, SessionDep
from backchannel.errors import NotFound
from backchannel.mastodon_api import notification_queries as queries
from backchannel.mastodon_api import params
from backchannel.mastodon_api.access import NOT_FOUND, can_see
from backchannel.mastodon_api.auth import Caller, account_of, user
from backchannel.mastodon_api.compat_queries import marker
from backchannel.mastodon_api.entities import JSONDict, Renderer
from backchannel.mastodon_api.http import JSON, paged
from backchannel.mastodon_api.notification_entities import notification_entities
from backchannel.mastodon_api.notification_models import MarkerTimeline, NotificationType
from backchannel.people.models import Account

router = APIRouter(tags=["mastodon"])
ReadNotifications = Annotated[Caller, Depends(user("read:notifications"))]
WriteNotifications = Annotated[Caller, Depends(user("write:notifications"))]
KNOWN = frozenset(t.value for t in NotificationType)


def _types(p: params.Params) -> set[str]:
    """``types[]`` and ``exclude_types[]`` as Mastodon reads them: unknown types (ones
    we never send, such as ``poll``) are ignored, not refused."""
    wanted = set(p.strings("types", max_items=50))
    types = (wanted & KNOWN) if wanted else set(KNOWN)
    return types - set(p.strings("exclude_types", max_items=50))


@router.get("/api/v1/notifications")
async def list_notifications(
    request: Request, caller: ReadNotifications, session: SessionDep, services: ServicesDep
) -> JSON:
    me = account_of(caller)
    p = params.query(request)
    page = p.page(default_limit=40, max_limit=80)
    rows = await queries.page(session, me.id, page, _types(p), p.id("account_id"))
    items = await _entities(session, services, me, rows)
    return paged(request, items, [n.id for n, _ in rows])


async def _entities(
    session: AsyncSession, services: Services, me: Account, rows: list[queries.Row]
) -> list[JSONDict]:
    """The rows as Notifications, each status checked once more by ``access.can_see``
    (a direct post edited since may no longer name the reader)."""
    found = await queries.posts(session, {n.status_id for n, _ in rows if n.status_id})
    posts = {i: post for i, post in found.items() if await can_see(session, me, post)}
    renderer = Renderer(session, services.settings.public_url(), me)
    return await notification_entities(renderer, rows, posts)


@router.get("/api/v1/notifications/unread_count")
async def unread_count(request: Request, caller: ReadNotifications, session: SessionDep) -> JSON:
    """How many are newer than the ``notifications`` marker (all, without one), capped."""
    me = account_of(caller)
    p = params.query(request)
    cap = p.integer("limit", 100, low=1, high=1000)
    read = await marker(session, me.id, MarkerTimeline.NOTIFICATIONS)
    after = read.last_read_id if read is not None else None
    count = await queries.count_after(session, me.id, after, _types(p), p.id("account_id"), cap)
    return JSON({"count": count})


@router.get("/api/v1/notifications/{notification_id}")
async def show_notification(
    notification_id: str, caller: ReadNotifications, session: SessionDep, services: ServicesDep
) -> JSON:
    me = account_of(caller)
    row = await queries.one(session, me.id, params.parse_id(notification_id))
    if row is None:
        raise NotFound(NOT_FOUND)
    items = await _entities(session, services, me, [row])
    if not items:
        raise NotFound(NOT_FOUND)
    return JSON(items[0])


@router.post("/api/v1/notifications/clear")
async def clear(caller: WriteNotifications, services: ServicesDep) -> JSON:
    me = account_of(caller)

    async def write(uow: UnitOfWork) -> None:
        await queries.clear(uow.session, me.id)

    await services.writer.submit(write)
    return JSON({})


@router.post("/api/v1/notifications/{notification_id}/dismiss")
async def dismiss(notification_id: str, caller: WriteNotifications, services: ServicesDep) -> JSON:
    me = account_of(caller)
    wanted = params.parse_id(notification_id)

    async def write(uow: UnitOfWork) -> None:
        if not await queries.dismiss(uow.session, me.id, wanted):
            raise NotFound(NOT_FOUND)

    await services.writer.submit(write)
    return JSON({})
