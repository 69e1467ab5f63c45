"""``/api/v1/timelines``: home, public and tag — newest first, paged by ids, never ranked.

Walls poll the tag timeline and apps the home one, so these are the API's hottest
reads. Each page is one statement on a pooled connection (no ORM session or objects:
``status_rows``) and JSON written from its rows (``entities.StatusWriter``). The
routes are also ``hot_read``s, served by ``MastodonEdge`` ahead of the app's routing,
so the handlers take only the request: they resolve the caller and the services
themselves, not through FastAPI dependencies.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from backchannel.deps import get_services
from backchannel.mastodon_api import auth, params, status_rows
from backchannel.mastodon_api import post_queries as queries
from backchannel.mastodon_api.auth import Caller, account_of, check_scope, get_caller
from backchannel.mastodon_api.entities import page_statuses
from backchannel.mastodon_api.http import JSON, hot_read, paged
from backchannel.mastodon_api.status_rows import Query
from backchannel.posts.hashtags import normalize_tag

router = APIRouter(tags=["mastodon"])
MAX_TAGS = 4
READ = "read:statuses"


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


_ANONYMOUS = Caller()


async def _reader(request: Request) -> Caller:
    """Anyone may read; a token, if sent, must be valid and carry ``read:statuses``."""
    # Walls read anonymously: with no token anywhere ``auth.bearer_token`` could find
    # one (no Authorization header, no access_token in the query), skip the lookup.
    if "access_token" not in request.query_params and all(
        name != b"authorization" for name, _ in request.scope["headers"]
    ):
        return _ANONYMOUS
    caller = await get_caller(request)
    check_scope(caller, READ)
    return caller


def _viewer_id(caller: Caller) -> int | None:
    return caller.account.id if caller.account is not None else None


async def _answer(request: Request, query: Query) -> JSON:
    """The page as Status JSON with its ``Link`` header."""
    services = get_services(request)
    page = await status_rows.read_page(services.engine, query)
    statuses = page_statuses(page, services.settings.public_url())
    return paged(request, statuses, [r.id for r in page.rows])


@router.get("/api/v1/timelines/tag/{hashtag}")
async def tag_timeline(hashtag: str, request: Request) -> JSON:
    """Public posts under a hashtag (``any[]``, ``all[]``, ``none[]`` add or drop tags)."""
    caller = await _reader(request)
    p = params.query(request)
    name = normalize_tag(hashtag)
    if name is None:
        return JSON([])
    any_tags = [name, *[t for t in _tags(p.strings("any", max_items=MAX_TAGS)) if t != name]]
    all_tags = _tags(p.strings("all", max_items=MAX_TAGS))
    none_tags = _tags(p.strings("none", max_items=MAX_TAGS))
    viewer = _viewer_id(caller)
    query = queries.tag_query(
        any_tags,
        all_tags,
        none_tags,
        p.page(),
        local=locality(p),
        only_media=p.flag("only_media"),
        viewer_id=viewer,
    )
    return await _answer(request, query)


@hot_read("/api/v1/timelines/tag/{hashtag}")
async def _hot_tag_timeline(request: Request) -> JSON:
    return await tag_timeline(request.path_params["hashtag"], request)


@router.get("/api/v1/timelines/public")
@hot_read("/api/v1/timelines/public")
async def public_timeline(request: Request) -> JSON:
    caller = await _reader(request)
    p = params.query(request)
    viewer = _viewer_id(caller)
    query = queries.public_query(
        p.page(), local=locality(p), only_media=p.flag("only_media"), viewer_id=viewer
    )
    return await _answer(request, query)


_home_reader = auth.user(READ)


@router.get("/api/v1/timelines/home")
@hot_read("/api/v1/timelines/home")
async def home_timeline(request: Request) -> JSON:
    """Own posts, posts of followed accounts (not their direct ones) and followed tags."""
    account = account_of(await _home_reader(request))
    query = queries.home_query(account.id, params.query(request).page())
    return await _answer(request, query)
