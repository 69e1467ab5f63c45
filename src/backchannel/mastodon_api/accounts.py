"""``/api/v1/accounts``: who I am, anyone's profile and posts, follows, relationships;
``/api/v2/search`` over accounts and hashtags."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.db.writer import UnitOfWork
from backchannel.deps import ServicesDep, SessionDep
from backchannel.errors import NotFound, Unprocessable
from backchannel.mastodon_api import notify, params, status_rows
from backchannel.mastodon_api import post_queries as queries
from backchannel.mastodon_api import repository as repo
from backchannel.mastodon_api.access import NOT_FOUND, visibilities_for
from backchannel.mastodon_api.auth import (
    ReadAccounts,
    ReadStatuses,
    UserProfile,
    UserReadFollows,
    UserWriteFollows,
    account_of,
)
from backchannel.mastodon_api.entities import (
    Renderer,
    credential_account,
    page_statuses,
    relationship,
    tag_entity,
)
from backchannel.mastodon_api.http import JSON, paged
from backchannel.people import repository as people_repo
from backchannel.people import service as people
from backchannel.people.models import Account
from backchannel.posts.hashtags import normalize_tag

router = APIRouter(tags=["mastodon"])


async def _account(session: AsyncSession, raw_id: str) -> Account:
    account = await people_repo.get_by_id(session, params.parse_id(raw_id))
    if account is None:
        raise NotFound(NOT_FOUND)
    return account


@router.get("/api/v1/accounts/verify_credentials")
async def verify_credentials(
    caller: UserProfile, session: SessionDep, services: ServicesDep
) -> JSON:
    account = account_of(caller)
    renderer = Renderer(session, services.settings.public_url(), account)
    counts = await renderer.account_counts({account.id})
    return JSON(credential_account(account, services.settings.public_url(), counts))


@router.get("/api/v1/accounts/lookup")
async def lookup(
    request: Request, caller: ReadAccounts, session: SessionDep, services: ServicesDep
) -> JSON:
    acct = params.query(request).text("acct", max_length=320) or ""
    account = await people.account_by_acct(session, acct)
    if account is None:
        raise NotFound(NOT_FOUND)
    return JSON(await Renderer(session, services.settings.public_url(), None).account(account))


@router.get("/api/v1/accounts/relationships")
async def relationships(request: Request, caller: UserReadFollows, session: SessionDep) -> JSON:
    me = account_of(caller)
    wanted = [params.parse_id(i) for i in params.query(request).strings("id", max_items=40)]
    following = await repo.following_ids(session, me.id, wanted)
    followed_by = {i for i in wanted if await repo.follower_ids_among(session, me.id, [i])}
    return JSON(
        [relationship(i, following=i in following, followed_by=i in followed_by) for i in wanted]
    )


@router.get("/api/v1/accounts/{account_id}")
async def show(
    account_id: str, caller: ReadAccounts, session: SessionDep, services: ServicesDep
) -> JSON:
    account = await _account(session, account_id)
    return JSON(await Renderer(session, services.settings.public_url(), None).account(account))


@router.get("/api/v1/accounts/{account_id}/statuses")
async def statuses(
    account_id: str,
    request: Request,
    caller: ReadStatuses,
    session: SessionDep,
    services: ServicesDep,
) -> JSON:
    account = await _account(session, account_id)
    p = params.query(request)
    if p.flag("pinned"):
        return JSON([])
    tagged = normalize_tag(p.text("tagged", max_length=300) or "") if p.has("tagged") else None
    viewer = caller.account.id if caller.account is not None else None
    # The timelines' fast path (one statement, rows to JSON) on the session's connection.
    conn = await session.connection()
    query = queries.account_query(
        account.id,
        await visibilities_for(session, caller.account, account.id),
        p.page(),
        only_media=p.flag("only_media"),
        exclude_replies=p.flag("exclude_replies"),
        exclude_reblogs=p.flag("exclude_reblogs"),
        tagged=tagged,
        viewer_id=viewer,
    )
    page = await status_rows.read_page_on(conn, query)
    statuses = page_statuses(page, services.settings.public_url())
    return paged(request, statuses, [r.id for r in page.rows])


async def _follow(services: ServicesDep, me: Account, account_id: str, on: bool) -> JSON:
    target_id = params.parse_id(account_id)

    async def write(uow: UnitOfWork) -> None:
        target = await people_repo.get_by_id(uow.session, target_id)
        if target is None:
            raise NotFound(NOT_FOUND)
        if target.id == me.id:
            raise Unprocessable("You cannot follow yourself")
        if on:
            await notify.follow(uow, me, target, services.settings.public_url())
        else:
            await repo.remove_follow(uow.session, me.id, target.id)

    await services.writer.submit(write)
    async with services.sessionmaker() as session:
        followed_by = bool(await repo.follower_ids_among(session, me.id, [target_id]))
    return JSON(relationship(target_id, following=on, followed_by=followed_by))


@router.post("/api/v1/accounts/{account_id}/follow")
async def follow(account_id: str, caller: UserWriteFollows, services: ServicesDep) -> JSON:
    return await _follow(services, account_of(caller), account_id, True)


@router.post("/api/v1/accounts/{account_id}/unfollow")
async def unfollow(account_id: str, caller: UserWriteFollows, services: ServicesDep) -> JSON:
    return await _follow(services, account_of(caller), account_id, False)


async def _follow_list(
    request: Request, session: AsyncSession, base: str, account_id: str, followers: bool
) -> JSON:
    account = await _account(session, account_id)
    page = params.query(request).page(default_limit=40, max_limit=80)
    rows = await repo.follow_list(session, account.id, page, followers=followers)
    items = await Renderer(session, base, None).accounts([a for a, _ in rows])
    return paged(request, items, [i for _, i in rows])


@router.get("/api/v1/accounts/{account_id}/followers")
async def followers(
    account_id: str,
    request: Request,
    caller: ReadAccounts,
    session: SessionDep,
    services: ServicesDep,
) -> JSON:
    base = services.settings.public_url()
    return await _follow_list(request, session, base, account_id, True)


@router.get("/api/v1/accounts/{account_id}/following")
async def following(
    account_id: str,
    request: Request,
    caller: ReadAccounts,
    session: SessionDep,
    services: ServicesDep,
) -> JSON:
    base = services.settings.public_url()
    return await _follow_list(request, session, base, account_id, False)


@router.get("/api/v2/search")
async def search(
    request: Request, caller: ReadAccounts, session: SessionDep, services: ServicesDep
) -> JSON:
    """Accounts by handle or name, and hashtags; statuses are not searched (no index)."""
    p = params.query(request)
    q = (p.text("q", max_length=500) or "").strip()
    kind = p.text("type", max_length=16)
    limit = p.integer("limit", 20, low=1, high=40)
    base = services.settings.public_url()
    result: dict[str, list[dict[str, object]]] = {"accounts": [], "statuses": [], "hashtags": []}
    if not q:
        return JSON(result)
    if kind in (None, "accounts"):
        exact = await people.account_by_acct(session, q)
        found = [exact] if exact is not None else []
        found += [
            a for a in await repo.search_accounts(session, q.lstrip("@"), limit) if a not in found
        ]
        result["accounts"] = await Renderer(session, base, None).accounts(found[:limit])
    if kind in (None, "hashtags"):
        name = normalize_tag(q.lstrip("#＃"))
        if name is not None:
            result["hashtags"] = [tag_entity(name, base)]
    return JSON(result)
