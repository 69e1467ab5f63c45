"""What apps ask for at startup that is not kept here, answered as Mastodon would for
an account that has none of it: no filters, lists, bookmarks, blocks, mutes, follow
requests, conversations, announcements or rules; default preferences. Trending tags
are the tags of the events on now.

Each asks for the scope Mastodon asks for, so an app learns about a missing scope
here as it would on Mastodon; paging parameters are checked as elsewhere.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from backchannel.deps import ServicesDep, SessionDep
from backchannel.kit.clock import utcnow
from backchannel.mastodon_api import compat_queries as queries
from backchannel.mastodon_api import params
from backchannel.mastodon_api import repository as repo
from backchannel.mastodon_api.auth import (
    Caller,
    SignedIn,
    UserReadAccounts,
    UserReadFollows,
    UserReadStatuses,
    get_caller,
    user,
)
from backchannel.mastodon_api.entities import tag_entity
from backchannel.mastodon_api.http import JSON
from backchannel.mastodon_api.tags import history as tag_history

router = APIRouter(tags=["mastodon"])


UserReadFilters = Annotated[Caller, Depends(user("read:filters"))]
UserReadLists = Annotated[Caller, Depends(user("read:lists"))]
UserReadBookmarks = Annotated[Caller, Depends(user("read:bookmarks"))]
UserReadBlocks = Annotated[Caller, Depends(user("read:blocks"))]
UserReadMutes = Annotated[Caller, Depends(user("read:mutes"))]

PREFERENCES = {
    "posting:default:visibility": "public",
    "posting:default:sensitive": False,
    "posting:default:language": None,
    "reading:expand:media": "default",
    "reading:expand:spoilers": False,
}


def _no_pages(request: Request) -> JSON:
    """An empty page: no ``Link`` header, but bad paging parameters still refused."""
    params.query(request).page(default_limit=40, max_limit=80)
    return JSON([])


@router.get("/api/v1/preferences")
async def preferences(caller: UserReadAccounts) -> JSON:
    return JSON(PREFERENCES)


@router.get("/api/v1/filters")
@router.get("/api/v2/filters")
async def filters(caller: UserReadFilters) -> JSON:
    return JSON([])


@router.get("/api/v1/lists")
async def lists(caller: UserReadLists) -> JSON:
    return JSON([])


@router.get("/api/v1/conversations")
async def conversations(request: Request, caller: UserReadStatuses) -> JSON:
    return _no_pages(request)


@router.get("/api/v1/announcements")
async def announcements(caller: SignedIn) -> JSON:
    return JSON([])


@router.get("/api/v1/bookmarks")
async def bookmarks(request: Request, caller: UserReadBookmarks) -> JSON:
    return _no_pages(request)


@router.get("/api/v1/follow_requests")
async def follow_requests(request: Request, caller: UserReadFollows) -> JSON:
    return _no_pages(request)


@router.get("/api/v1/blocks")
async def blocks(request: Request, caller: UserReadBlocks) -> JSON:
    return _no_pages(request)


@router.get("/api/v1/mutes")
async def mutes(request: Request, caller: UserReadMutes) -> JSON:
    return _no_pages(request)


@router.get("/api/v1/instance/rules")
async def instance_rules() -> JSON:
    return JSON([])


@router.get("/api/v1/trends/tags")
@router.get("/api/v1/trends")
async def trending_tags(request: Request, session: SessionDep, services: ServicesDep) -> JSON:
    """The primary tags of the events on now, with their use of the last week."""
    caller = await get_caller(request)
    p = params.query(request)
    limit = p.integer("limit", 10, low=1, high=20)
    offset = p.integer("offset", 0, low=0, high=10_000)
    names = await queries.current_event_tags(session, utcnow(), limit, offset)
    followed: set[str] | None = None
    if caller.account is not None:
        followed = await repo.followed_tags(session, caller.account.id, names)
    base = services.settings.public_url()
    tags = []
    for name in names:
        tag = tag_entity(name, base, following=name in followed if followed is not None else None)
        tag["history"] = await tag_history(session, name)
        tags.append(tag)
    return JSON(tags)


@router.get("/api/v1/trends/statuses")
@router.get("/api/v1/trends/links")
async def trending_nothing(request: Request) -> JSON:
    """Nothing is ranked here (no invisible algorithm): no trending posts or links."""
    await get_caller(request)
    p = params.query(request)
    p.integer("limit", 20, low=1, high=40)
    p.integer("offset", 0, low=0, high=10_000)
    return JSON([])
