"""``/api/v1/timelines``: home, public and tag — newest first, paged by ids, never ranked."""

from __future__ import annotations

from fastapi import APIRouter, Request

from backchannel.deps import ServicesDep, SessionDep
from backchannel.mastodon_api import params
from backchannel.mastodon_api import post_queries as queries
from backchannel.mastodon_api.auth import ReadStatuses, UserReadStatuses, account_of
from backchannel.mastodon_api.entities import Renderer
from backchannel.mastodon_api.http import JSON, paged
from backchannel.posts.hashtags import normalize_tag

router = APIRouter(tags=["mastodon"])
MAX_TAGS = 4


def locality(p: params.Params) -> bool | None:
    """True: local posts only; False: remote only; None: both."""
    local, remote = p.flag("local"), p.flag("remote")
    if local and remote:
        return None
    return True if local else (False if remote else None)


def _tags(values: list[str]) -> list[str]:
    names = []
    for value in values:
        name = normalize_tag(value)
        if name is not None and name not in names:
            names.append(name)
    return names


@router.get("/api/v1/timelines/tag/{hashtag}")
async def tag_timeline(
    hashtag: str,
    request: Request,
    caller: ReadStatuses,
    session: SessionDep,
    services: ServicesDep,
) -> JSON:
    """Public posts under a hashtag (``any[]``, ``all[]``, ``none[]`` add or drop tags)."""
    p = params.query(request)
    name = normalize_tag(hashtag)
    if name is None:
        return JSON([])
    any_tags = [name, *[t for t in _tags(p.strings("any", max_items=MAX_TAGS)) if t != name]]
    all_tags = _tags(p.strings("all", max_items=MAX_TAGS))
    none_tags = _tags(p.strings("none", max_items=MAX_TAGS))
    posts = await queries.tag_timeline(
        session,
        any_tags,
        all_tags,
        none_tags,
        p.page(),
        local=locality(p),
        only_media=p.flag("only_media"),
    )
    renderer = Renderer(session, services.settings.public_url(), caller.account)
    return paged(request, await renderer.statuses(posts), [x.id for x in posts])


@router.get("/api/v1/timelines/public")
async def public_timeline(
    request: Request, caller: ReadStatuses, session: SessionDep, services: ServicesDep
) -> JSON:
    p = params.query(request)
    posts = await queries.public_timeline(
        session, p.page(), local=locality(p), only_media=p.flag("only_media")
    )
    renderer = Renderer(session, services.settings.public_url(), caller.account)
    return paged(request, await renderer.statuses(posts), [x.id for x in posts])


@router.get("/api/v1/timelines/home")
async def home_timeline(
    request: Request, caller: UserReadStatuses, session: SessionDep, services: ServicesDep
) -> JSON:
    account = account_of(caller)
    p = params.query(request)
    posts = await queries.home_timeline(session, account.id, p.page())
    renderer = Renderer(session, services.settings.public_url(), account)
    return paged(request, await renderer.statuses(posts), [x.id for x in posts])
