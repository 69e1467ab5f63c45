"""Every query of the Mastodon client API that the core repositories do not have."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Select,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from backchannel.kit.ids import new_id
from backchannel.kit.pages import Page, apply_page
from backchannel.mastodon_api.models import (
    AccountFollow,
    AccountStats,
    AppToken,
    AuthorizationCode,
    Favourite,
    IdempotencyKey,
    OAuthApp,
    PostStats,
    Reblog,
    Reply,
    TagFollow,
    TokenApp,
)
from backchannel.people.models import Account, ApiToken
from backchannel.posts.models import Post, Visibility

PUBLIC = Visibility.PUBLIC.value


# --- apps and tokens -------------------------------------------------------------


async def app_by_client_id(session: AsyncSession, client_id: str) -> OAuthApp | None:
    if len(client_id) > 64:
        return None
    return await session.scalar(select(OAuthApp).where(OAuthApp.client_id == client_id))


async def user_token(session: AsyncSession, token_hash: str) -> tuple[Account, str] | None:
    """The account and scopes behind a user token."""
    row = (
        await session.execute(
            select(Account, ApiToken.scopes)
            .join(ApiToken, ApiToken.account_id == Account.id)
            .where(ApiToken.token_hash == token_hash)
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


async def app_token(session: AsyncSession, token_hash: str) -> AppToken | None:
    return await session.get(AppToken, token_hash)


async def token_app_id(session: AsyncSession, token_hash: str) -> int | None:
    return await session.scalar(select(TokenApp.app_id).where(TokenApp.token_hash == token_hash))


async def take_code(session: AsyncSession, code_hash: str) -> AuthorizationCode | None:
    """The code, deleted in the same breath: a code is good for one exchange only."""
    code = await session.get(AuthorizationCode, code_hash)
    if code is not None:
        await session.delete(code)
        await session.flush()
    return code


async def revoke(session: AsyncSession, token_hash: str, app_id: int) -> None:
    """Forget a token of this app (a user's or the app's own); unknown tokens are fine."""
    owned = select(TokenApp.token_hash).where(
        TokenApp.token_hash == token_hash, TokenApp.app_id == app_id
    )
    await session.execute(delete(ApiToken).where(ApiToken.token_hash.in_(owned)))
    await session.execute(
        delete(AppToken).where(AppToken.token_hash == token_hash, AppToken.app_id == app_id)
    )


# --- relationships ---------------------------------------------------------------


async def following_ids(
    session: AsyncSession, follower_id: int, targets: Collection[int]
) -> set[int]:
    if not targets:
        return set()
    stmt = select(AccountFollow.target_id).where(
        AccountFollow.follower_id == follower_id, AccountFollow.target_id.in_(list(targets))
    )
    return set((await session.scalars(stmt)).all())


async def follower_ids_among(
    session: AsyncSession, target_id: int, followers: Collection[int]
) -> set[int]:
    if not followers:
        return set()
    stmt = select(AccountFollow.follower_id).where(
        AccountFollow.target_id == target_id, AccountFollow.follower_id.in_(list(followers))
    )
    return set((await session.scalars(stmt)).all())


async def add_follow(session: AsyncSession, follower_id: int, target_id: int) -> None:
    if await session.get(AccountFollow, (follower_id, target_id)) is None:
        session.add(AccountFollow(follower_id=follower_id, target_id=target_id, id=new_id()))


async def remove_follow(session: AsyncSession, follower_id: int, target_id: int) -> None:
    await session.execute(
        delete(AccountFollow).where(
            AccountFollow.follower_id == follower_id, AccountFollow.target_id == target_id
        )
    )


async def follow_list(
    session: AsyncSession, account_id: int, page: Page, *, followers: bool
) -> list[tuple[Account, int]]:
    """Followers (or followed accounts) of ``account_id``, newest follow first."""
    mine, theirs = (
        (AccountFollow.target_id, AccountFollow.follower_id)
        if followers
        else (AccountFollow.follower_id, AccountFollow.target_id)
    )
    stmt = select(Account, AccountFollow.id).join(AccountFollow, theirs == Account.id)
    stmt, oldest_first = apply_page(stmt.where(mine == account_id), AccountFollow.id, page)
    rows = [(a, i) for a, i in (await session.execute(stmt)).all()]
    return rows[::-1] if oldest_first else rows


async def local_followers(session: AsyncSession, target_id: int) -> list[int]:
    stmt = (
        select(AccountFollow.follower_id)
        .join(Account, Account.id == AccountFollow.follower_id)
        .where(AccountFollow.target_id == target_id, Account.domain == "")
    )
    return list((await session.scalars(stmt)).all())


async def tag_followers(session: AsyncSession, tags: Collection[str]) -> list[int]:
    if not tags:
        return []
    stmt = select(TagFollow.account_id).where(TagFollow.tag.in_(list(tags))).distinct()
    return list((await session.scalars(stmt)).all())


def _home_readers() -> CompoundSelect[int]:
    followers = (
        select(AccountFollow.follower_id)
        .join(Account, Account.id == AccountFollow.follower_id)
        .where(AccountFollow.target_id == bindparam("author_id"), Account.domain == "")
    )
    tag_followers = select(TagFollow.account_id).where(
        TagFollow.tag.in_(bindparam("tags", expanding=True))
    )
    return union(followers, tag_followers)


_HOME_READERS = _home_readers()


async def home_readers(session: AsyncSession, author_id: int, tags: Collection[str]) -> set[int]:
    """``local_followers`` of the author and ``tag_followers`` of ``tags``, in one query."""
    params = {"author_id": author_id, "tags": list(tags)}
    return set((await session.scalars(_HOME_READERS, params)).all())


async def followed_tags(session: AsyncSession, account_id: int, tags: Collection[str]) -> set[str]:
    if not tags:
        return set()
    stmt = select(TagFollow.tag).where(
        TagFollow.account_id == account_id, TagFollow.tag.in_(list(tags))
    )
    return set((await session.scalars(stmt)).all())


async def follow_tag(session: AsyncSession, account_id: int, tag: str) -> None:
    if await session.get(TagFollow, (account_id, tag)) is None:
        session.add(TagFollow(account_id=account_id, tag=tag, id=new_id()))


async def unfollow_tag(session: AsyncSession, account_id: int, tag: str) -> None:
    await session.execute(
        delete(TagFollow).where(TagFollow.account_id == account_id, TagFollow.tag == tag)
    )


async def followed_tag_page(session: AsyncSession, account_id: int, page: Page) -> list[TagFollow]:
    stmt = select(TagFollow).where(TagFollow.account_id == account_id)
    stmt, oldest_first = apply_page(stmt, TagFollow.id, page)
    rows = list((await session.scalars(stmt)).all())
    return rows[::-1] if oldest_first else rows


# --- counters ----------------------------------------------------------------------


def _counts_of_accounts() -> Select[int, int | None, datetime | None, int, int]:
    return (
        select(
            Account.id,
            AccountStats.statuses_count,
            AccountStats.last_status_at,
            func.coalesce(AccountStats.followers_count, 0),
            func.coalesce(AccountStats.following_count, 0),
        )
        .outerjoin(AccountStats, AccountStats.account_id == Account.id)
        .where(Account.id.in_(bindparam("ids", expanding=True)))
    )


_COUNTS_OF_ACCOUNTS = _counts_of_accounts()


async def counts_of_accounts(
    session: AsyncSession, ids: Collection[int]
) -> dict[int, tuple[int | None, datetime | None, int, int]]:
    """(statuses, last status, followers, following) per account, in one query;
    statuses is None without a stats row."""
    if not ids:
        return {}
    rows = await session.execute(_COUNTS_OF_ACCOUNTS, {"ids": list(ids)})
    return {
        account_id: (statuses, last, int(followers), int(following))
        for account_id, statuses, last, followers, following in rows
    }


async def count_status(session: AsyncSession, account_id: int, at: datetime, delta: int) -> None:
    stats = await session.get(AccountStats, account_id)
    if stats is None:
        session.add(
            AccountStats(account_id=account_id, statuses_count=max(delta, 0), last_status_at=at)
        )
        await session.flush()
        return
    stats.statuses_count = max(stats.statuses_count + delta, 0)
    if delta > 0 and (stats.last_status_at is None or stats.last_status_at < at):
        stats.last_status_at = at
    await session.flush()


@cache
def _count_statuses(dialect: str) -> Insert:
    # Rows: account_id, delta, latest (newest created post's time or None), and what a
    # new row starts with: statuses_count, last_status_at.
    dialect_insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = dialect_insert(AccountStats)
    counted = AccountStats.statuses_count + bindparam("delta")
    latest = bindparam("latest", type_=AccountStats.last_status_at.type)
    newer = and_(
        latest.is_not(None),
        or_(AccountStats.last_status_at.is_(None), AccountStats.last_status_at < latest),
    )
    upsert: Insert = stmt.on_conflict_do_update(
        index_elements=[AccountStats.account_id],
        set_={
            "statuses_count": case((counted < 0, 0), else_=counted),
            "last_status_at": case((newer, latest), else_=AccountStats.last_status_at),
        },
    )
    return upsert


def count_statuses(session: Session, rows: list[dict[str, Any]]) -> None:
    """Many accounts' status count changes at once: one upsert with many rows
    (``count_status`` does one). Each row: ``account_id``, ``delta``, ``latest`` (the
    newest created status's time, None if there were only deletions) and ``at`` (a
    new row's ``last_status_at`` when ``latest`` is None)."""
    if not rows:
        return
    stmt = _count_statuses(session.get_bind().dialect.name)
    params = [
        {
            "account_id": row["account_id"],
            "delta": row["delta"],
            "latest": row["latest"],
            "statuses_count": max(row["delta"], 0),
            "last_status_at": row["latest"] or row["at"],
        }
        for row in rows
    ]
    session.connection().execute(stmt, params)


async def status_counts(
    session: AsyncSession, post_ids: Collection[int]
) -> tuple[dict[int, int], dict[int, int], dict[int, int]]:
    """(favourites, reblogs, replies) per post, from the counters triggers keep."""
    if not post_ids:
        return {}, {}, {}
    rows = await session.execute(
        select(
            PostStats.post_id,
            PostStats.favourites_count,
            PostStats.reblogs_count,
            PostStats.replies_count,
        ).where(PostStats.post_id.in_(list(post_ids)))
    )
    favs: dict[int, int] = {}
    boosts: dict[int, int] = {}
    replies: dict[int, int] = {}
    for post_id, n_favs, n_boosts, n_replies in rows:
        favs[post_id], boosts[post_id], replies[post_id] = n_favs, n_boosts, n_replies
    return favs, boosts, replies


async def viewer_marks(
    session: AsyncSession, account_id: int, post_ids: Collection[int]
) -> tuple[set[int], set[int]]:
    """(favourited, reblogged) among ``post_ids`` for one account."""
    if not post_ids:
        return set(), set()
    ids = list(post_ids)
    favs = await session.scalars(
        select(Favourite.post_id).where(
            Favourite.account_id == account_id, Favourite.post_id.in_(ids)
        )
    )
    boosts = await session.scalars(
        select(Reblog.post_id).where(Reblog.account_id == account_id, Reblog.post_id.in_(ids))
    )
    return set(favs.all()), set(boosts.all())


# --- favourites, reblogs, replies, idempotency ---------------------------------------


async def favourite(session: AsyncSession, account_id: int, post_id: int, on: bool) -> None:
    existing = await session.get(Favourite, (account_id, post_id))
    if on and existing is None:
        session.add(Favourite(account_id=account_id, post_id=post_id))
    elif not on and existing is not None:
        await session.delete(existing)
    await session.flush()


async def reblog_of(session: AsyncSession, account_id: int, post_id: int) -> Reblog | None:
    return await session.get(Reblog, (account_id, post_id))


async def add_reblog(session: AsyncSession, account_id: int, post_id: int, reblog_id: int) -> None:
    session.add(Reblog(account_id=account_id, post_id=post_id, reblog_id=reblog_id))
    await session.flush()


async def add_reply(session: AsyncSession, parent_id: int, post_id: int) -> None:
    if await session.get(Reply, (parent_id, post_id)) is None:
        session.add(Reply(parent_id=parent_id, post_id=post_id))


async def descendants(session: AsyncSession, post_id: int, limit: int = 200) -> list[Post]:
    """Replies to a post and their replies, oldest first (breadth first)."""
    found: list[Post] = []
    frontier = [post_id]
    while frontier and len(found) < limit:
        stmt = (
            select(Post)
            .join(Reply, Reply.post_id == Post.id)
            .where(Reply.parent_id.in_(frontier))
            .order_by(Post.id)
        )
        batch = list((await session.scalars(stmt)).all())
        found.extend(batch)
        frontier = [p.id for p in batch]
    return sorted(found[:limit], key=lambda p: p.id)


async def idempotent_post(session: AsyncSession, account_id: int, key: str) -> int | None:
    return await session.scalar(
        select(IdempotencyKey.post_id).where(
            IdempotencyKey.account_id == account_id, IdempotencyKey.key == key
        )
    )


async def remember_key(session: AsyncSession, account_id: int, key: str, post_id: int) -> bool:
    try:
        async with session.begin_nested():
            session.add(IdempotencyKey(account_id=account_id, key=key, post_id=post_id))
            await session.flush()
    except IntegrityError:
        return False
    return True


async def search_accounts(session: AsyncSession, query: str, limit: int) -> list[Account]:
    pattern = query.replace("%", "").replace("_", "\\_") + "%"
    stmt = (
        select(Account)
        .where(Account.acct.ilike(pattern, escape="\\") | Account.display_name.ilike(pattern))
        .order_by(Account.acct)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def touch_token(session: AsyncSession, token_hash: str, at: datetime) -> None:
    await session.execute(
        update(ApiToken).where(ApiToken.token_hash == token_hash).values(last_used_at=at)
    )


async def instance_counts(session: AsyncSession) -> tuple[int, int, int]:
    """(local accounts, local posts, other domains)."""
    users = await session.scalar(select(func.count()).where(Account.domain == ""))
    posts = await session.scalar(
        select(func.sum(AccountStats.statuses_count))
        .join(Account, Account.id == AccountStats.account_id)
        .where(Account.domain == "")
    )
    domains = await session.scalar(
        select(func.count(func.distinct(Account.domain))).where(Account.domain != "")
    )
    return int(users or 0), int(posts or 0), int(domains or 0)
