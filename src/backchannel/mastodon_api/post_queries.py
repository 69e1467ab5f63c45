"""Every query over posts the Mastodon API needs: timelines, lookups, tag use counts.

A timeline is a ``Query``: which ids make the page (by the filters and ``Page``),
made into one statement of ``StatusRow``s by ``status_rows`` (the page as a subquery,
or one flat statement where an index gives the page in order). The statements are
built once per *shape* (how many tags, which filters, which page bounds) and kept,
every value a bound parameter: a request pays neither building a statement nor
compiling it, only its execution.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Integer, String, bindparam, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from backchannel.db.base import BigInt
from backchannel.kit.pages import Page
from backchannel.mastodon_api.models import AccountFollow, TagFollow
from backchannel.mastodon_api.status_rows import (
    Query,
    Statement,
    flat_everything,
    numbered,
    numbered_values,
    with_everything,
    with_viewer,
)
from backchannel.people.models import Account
from backchannel.posts.models import Post, PostTag, Visibility

PUBLIC = Visibility.PUBLIC.value


async def posts_by_uris(session: AsyncSession, uris: Collection[str]) -> dict[str, Post]:
    if not uris:
        return {}
    rows = await session.scalars(select(Post).where(Post.source_uri.in_(list(uris))))
    return {p.source_uri: p for p in rows}


async def accounts_by_accts(session: AsyncSession, accts: Collection[str]) -> dict[str, Account]:
    if not accts:
        return {}
    rows = await session.scalars(select(Account).where(Account.acct.in_(list(accts))))
    return {a.acct: a for a in rows}


# --- the page: which ids ---------------------------------------------------------------


class _Bounds(NamedTuple):
    """Which of ``max_id``, ``since_id``, ``min_id`` a page sets (the statement's shape)."""

    max_id: bool
    since_id: bool
    min_id: bool

    @classmethod
    def of(cls, page: Page) -> _Bounds:
        return cls(page.max_id is not None, page.since_id is not None, page.min_id is not None)


def _page_params(page: Page) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": page.limit}
    if page.max_id is not None:
        params["max_id"] = page.max_id
    if page.since_id is not None:
        params["since_id"] = page.since_id
    if page.min_id is not None:
        params["min_id"] = page.min_id
    return params


def _bounded(stmt: Select[Any], column: Any, bounds: _Bounds) -> Select[Any]:
    """``kit.pages.apply_page`` with bound parameters: ``min_id`` takes the page right
    after it, oldest first (given newest first again: ``with_everything`` orders it,
    a flat statement's rows are reversed as they are read)."""
    # Ids are 64-bit: typed here, not taken from columns mapped as plain integers.
    if bounds.max_id:
        stmt = stmt.where(column < bindparam("max_id", type_=BigInt))
    if bounds.since_id:
        stmt = stmt.where(column > bindparam("since_id", type_=BigInt))
    limit = bindparam("limit", type_=Integer)
    if bounds.min_id:
        stmt = stmt.where(column > bindparam("min_id", type_=BigInt))
        return stmt.order_by(column.asc()).limit(limit)
    return stmt.order_by(column.desc()).limit(limit)


def _media_only(stmt: Select[Any]) -> Select[Any]:
    # JSON ``[]`` reads back as the same text on SQLite and PostgreSQL.
    return stmt.where(cast(Post.media, String) != "[]")


def _locality(stmt: Select[Any], local: bool | None) -> Select[Any]:
    if local is None:
        return stmt
    return stmt.where((Post.source == "local") if local else (Post.source != "local"))


@lru_cache(maxsize=256)
def _tag_statement(
    n_any: int,
    n_all: int,
    n_none: int,
    local: bool | None,
    only_media: bool,
    bounds: _Bounds,
    viewer: bool,
) -> Statement:
    """One tag (what walls ask for) is a range scan of ``post_tags``' primary key
    joined to the posts, in the key's order: with no other tags to match, the page
    is one flat statement. More tags take the union first."""
    if n_any == 1:
        stmt = (
            select(PostTag.post_id.label("id"))
            .join(Post, Post.id == PostTag.post_id)
            .where(PostTag.tag == bindparam("any_0", type_=String))
        )
        column: Any = PostTag.post_id
    else:
        ids = select(PostTag.post_id).where(PostTag.tag.in_(numbered("any", n_any)))
        stmt = select(Post.id).where(Post.id.in_(ids))
        column = Post.id
    stmt = stmt.where(Post.visibility == PUBLIC)
    for name in numbered("all", n_all):
        stmt = stmt.where(Post.id.in_(select(PostTag.post_id).where(PostTag.tag == name)))
    if n_none:
        excluded = select(PostTag.post_id).where(PostTag.tag.in_(numbered("none", n_none)))
        stmt = stmt.where(Post.id.not_in(excluded))
    stmt = _locality(stmt, local)
    if only_media:
        stmt = _media_only(stmt)
    page = _bounded(stmt, column, bounds)
    if n_any == 1 and not n_all and not n_none:
        return flat_everything(page, viewer=viewer, oldest_first=bounds.min_id)
    return with_everything(page, viewer=viewer)


def tag_query(
    any_tags: Sequence[str],
    all_tags: Sequence[str],
    none_tags: Sequence[str],
    page: Page,
    *,
    local: bool | None = None,
    only_media: bool = False,
    viewer_id: int | None = None,
) -> Query:
    """Public posts with any of ``any_tags``, all of ``all_tags``, none of ``none_tags``."""
    stmt = _tag_statement(
        len(any_tags),
        len(all_tags),
        len(none_tags),
        local,
        only_media,
        _Bounds.of(page),
        viewer_id is not None,
    )
    params = _page_params(page)
    params.update(numbered_values("any", any_tags))
    params.update(numbered_values("all", all_tags))
    params.update(numbered_values("none", none_tags))
    return Query(stmt, with_viewer(params, viewer_id))


@lru_cache(maxsize=64)
def _public_statement(
    local: bool | None, only_media: bool, bounds: _Bounds, viewer: bool
) -> Statement:
    stmt = select(Post.id).where(Post.visibility == PUBLIC, Post.reblog_of_uri.is_(None))
    stmt = _locality(stmt, local)
    if only_media:
        stmt = _media_only(stmt)
    return with_everything(_bounded(stmt, Post.id, bounds), viewer=viewer)


def public_query(
    page: Page,
    *,
    local: bool | None = None,
    only_media: bool = False,
    viewer_id: int | None = None,
) -> Query:
    stmt = _public_statement(local, only_media, _Bounds.of(page), viewer_id is not None)
    return Query(stmt, with_viewer(_page_params(page), viewer_id))


@lru_cache(maxsize=16)
def _home_statement(bounds: _Bounds) -> Statement:
    """Own posts, posts of followed accounts (not their direct ones) and followed tags."""
    me = bindparam("viewer", type_=BigInt)
    followed = select(AccountFollow.target_id).where(AccountFollow.follower_id == me)
    tags = select(TagFollow.tag).where(TagFollow.account_id == me)
    tagged = select(PostTag.post_id).where(PostTag.tag.in_(tags))
    stmt = select(Post.id).where(
        (Post.author_id == me)
        | (Post.author_id.in_(followed) & (Post.visibility != Visibility.DIRECT.value))
        | Post.id.in_(tagged)
    )
    return with_everything(_bounded(stmt, Post.id, bounds), viewer=True)


def home_query(account_id: int, page: Page) -> Query:
    return Query(_home_statement(_Bounds.of(page)), with_viewer(_page_params(page), account_id))


@lru_cache(maxsize=256)
def _account_statement(
    n_visibilities: int,
    only_media: bool,
    exclude_replies: bool,
    exclude_reblogs: bool,
    tagged: bool,
    bounds: _Bounds,
    viewer: bool,
) -> Statement:
    stmt = select(Post.id).where(
        Post.author_id == bindparam("author", type_=BigInt),
        Post.visibility.in_(numbered("visibility", n_visibilities)),
    )
    if only_media:
        stmt = _media_only(stmt)
    if exclude_replies:
        stmt = stmt.where(Post.in_reply_to_uri.is_(None))
    if exclude_reblogs:
        stmt = stmt.where(Post.reblog_of_uri.is_(None))
    if tagged:
        stmt = stmt.where(
            Post.id.in_(
                select(PostTag.post_id).where(PostTag.tag == bindparam("tagged", type_=String))
            )
        )
    return with_everything(_bounded(stmt, Post.id, bounds), viewer=viewer)


def account_query(
    account_id: int,
    visibilities: Collection[str],
    page: Page,
    *,
    only_media: bool = False,
    exclude_replies: bool = False,
    exclude_reblogs: bool = False,
    tagged: str | None = None,
    viewer_id: int | None = None,
) -> Query:
    stmt = _account_statement(
        len(visibilities),
        only_media,
        exclude_replies,
        exclude_reblogs,
        bool(tagged),
        _Bounds.of(page),
        viewer_id is not None,
    )
    params = _page_params(page)
    params["author"] = account_id
    params.update(numbered_values("visibility", visibilities))
    if tagged:
        params["tagged"] = tagged
    return Query(stmt, with_viewer(params, viewer_id))


async def tag_uses(session: AsyncSession, tag: str, since_id: int) -> tuple[int, int]:
    """(posts, distinct authors) under a tag since a post id."""
    stmt = (
        select(func.count(), func.count(func.distinct(Post.author_id)))
        .select_from(PostTag)
        .join(Post, Post.id == PostTag.post_id)
        .where(PostTag.tag == tag, PostTag.post_id >= since_id)
    )
    row = (await session.execute(stmt)).one()
    return int(row[0]), int(row[1])
