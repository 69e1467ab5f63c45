"""``/api/v1/tags`` and ``/api/v1/followed_tags``: a hashtag, following it."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.db.writer import UnitOfWork
from backchannel.deps import ServicesDep, SessionDep
from backchannel.errors import NotFound
from backchannel.kit.clock import utcnow
from backchannel.kit.ids import id_floor
from backchannel.mastodon_api import params
from backchannel.mastodon_api import post_queries as queries
from backchannel.mastodon_api import repository as repo
from backchannel.mastodon_api.auth import (
    ReadAccounts,
    UserReadFollows,
    UserWriteFollows,
    account_of,
)
from backchannel.mastodon_api.entities import JSONDict, tag_entity
from backchannel.mastodon_api.http import JSON, paged
from backchannel.posts.hashtags import normalize_tag

router = APIRouter(tags=["mastodon"])


def _name(raw: str) -> str:
    name = normalize_tag(raw)
    if name is None:
        raise NotFound("Record not found")
    return name


async def history(session: AsyncSession, name: str) -> list[dict[str, str]]:
    """Uses per day for the last week, newest first, as Mastodon's ``history``."""
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    days = []
    previous = (0, 0)
    # Counting from each day's start on: the day's own uses are the difference.
    totals = []
    for back in range(7):
        start = today - timedelta(days=back)
        totals.append((start, await queries.tag_uses(session, name, id_floor(start))))
    for start, (uses, accounts) in totals:
        day_uses, day_accounts = uses - previous[0], max(accounts - previous[1], 0)
        previous = (uses, accounts)
        days.append(
            {
                "day": str(int(start.timestamp())),
                "uses": str(day_uses),
                "accounts": str(day_accounts if day_uses else 0),
            }
        )
    return days


async def _tag(session: AsyncSession, name: str, base: str, account_id: int | None) -> JSONDict:
    following = None
    if account_id is not None:
        following = name in await repo.followed_tags(session, account_id, [name])
    data = tag_entity(name, base, following=following)
    data["history"] = await history(session, name)
    return data


@router.get("/api/v1/tags/{hashtag}")
async def show_tag(
    hashtag: str, caller: ReadAccounts, session: SessionDep, services: ServicesDep
) -> JSON:
    account_id = caller.account.id if caller.account else None
    base = services.settings.public_url()
    return JSON(await _tag(session, _name(hashtag), base, account_id))


async def _set_follow(services: ServicesDep, account_id: int, hashtag: str, on: bool) -> JSON:
    name = _name(hashtag)

    async def write(uow: UnitOfWork) -> None:
        if on:
            await repo.follow_tag(uow.session, account_id, name)
        else:
            await repo.unfollow_tag(uow.session, account_id, name)

    await services.writer.submit(write)
    async with services.sessionmaker() as session:
        return JSON(await _tag(session, name, services.settings.public_url(), account_id))


@router.post("/api/v1/tags/{hashtag}/follow")
async def follow(hashtag: str, caller: UserWriteFollows, services: ServicesDep) -> JSON:
    return await _set_follow(services, account_of(caller).id, hashtag, True)


@router.post("/api/v1/tags/{hashtag}/unfollow")
async def unfollow(hashtag: str, caller: UserWriteFollows, services: ServicesDep) -> JSON:
    return await _set_follow(services, account_of(caller).id, hashtag, False)


@router.get("/api/v1/followed_tags")
async def followed_tags(
    request: Request, caller: UserReadFollows, session: SessionDep, services: ServicesDep
) -> JSON:
    account = account_of(caller)
    page = params.query(request).page(default_limit=100, max_limit=200)
    rows = await repo.followed_tag_page(session, account.id, page)
    base = services.settings.public_url()
    items = [tag_entity(r.tag, base, following=True) for r in rows]
    return paged(request, items, [r.id for r in rows])
