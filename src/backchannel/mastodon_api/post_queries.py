"""Every query over posts the Mastodon API needs: timelines, lookups, tag use counts."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import String, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from backchannel.kit.pages import Page, apply_page
from backchannel.mastodon_api.models import AccountFollow, TagFollow
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


def _finish(rows: Sequence[Post], oldest_first: bool) -> list[Post]:
    posts = list(rows)
    return posts[::-1] if oldest_first else posts


def _media_only(stmt: Select[Post]) -> Select[Post]:
    # JSON ``[]`` reads back as the same text on SQLite and PostgreSQL.
    return stmt.where(cast(Post.media, String) != "[]")


async def tag_timeline(
    session: AsyncSession,
    any_tags: Sequence[str],
    all_tags: Sequence[str],
    none_tags: Sequence[str],
    page: Page,
    *,
    local: bool | None = None,
    only_media: bool = False,
) -> list[Post]:
    """Public posts with any of ``any_tags``, all of ``all_tags``, none of ``none_tags``.

    One tag (what walls ask for) is a range scan of ``post_tags``' primary key joined
    to the posts; more tags take the union first.
    """
    if len(any_tags) == 1:
        stmt = (
            select(Post).join(PostTag, PostTag.post_id == Post.id).where(PostTag.tag == any_tags[0])
        )
        column = PostTag.post_id
    else:
        ids = select(PostTag.post_id).where(PostTag.tag.in_(list(any_tags)))
        stmt = select(Post).where(Post.id.in_(ids))
        column = Post.id
    stmt = stmt.where(Post.visibility == PUBLIC)
    for tag in all_tags:
        stmt = stmt.where(Post.id.in_(select(PostTag.post_id).where(PostTag.tag == tag)))
    if none_tags:
        excluded = select(PostTag.post_id).where(PostTag.tag.in_(list(none_tags)))
        stmt = stmt.where(Post.id.not_in(excluded))
    if local is not None:
        stmt = stmt.where((Post.source == "local") if local else (Post.source != "local"))
    if only_media:
        stmt = _media_only(stmt)
    stmt, oldest_first = apply_page(stmt, column, page)
    return _finish((await session.scalars(stmt)).all(), oldest_first)


async def public_timeline(
    session: AsyncSession, page: Page, *, local: bool | None = None, only_media: bool = False
) -> list[Post]:
    stmt = select(Post).where(Post.visibility == PUBLIC, Post.reblog_of_uri.is_(None))
    if local is not None:
        stmt = stmt.where((Post.source == "local") if local else (Post.source != "local"))
    if only_media:
        stmt = _media_only(stmt)
    stmt, oldest_first = apply_page(stmt, Post.id, page)
    return _finish((await session.scalars(stmt)).all(), oldest_first)


async def home_timeline(session: AsyncSession, account_id: int, page: Page) -> list[Post]:
    """Own posts, posts of followed accounts (not their direct ones) and followed tags."""
    followed = select(AccountFollow.target_id).where(AccountFollow.follower_id == account_id)
    tags = select(TagFollow.tag).where(TagFollow.account_id == account_id)
    tagged = select(PostTag.post_id).where(PostTag.tag.in_(tags))
    stmt = select(Post).where(
        (Post.author_id == account_id)
        | (Post.author_id.in_(followed) & (Post.visibility != Visibility.DIRECT.value))
        | Post.id.in_(tagged)
    )
    stmt, oldest_first = apply_page(stmt, Post.id, page)
    return _finish((await session.scalars(stmt)).all(), oldest_first)


async def account_statuses(
    session: AsyncSession,
    account_id: int,
    visibilities: Collection[str],
    page: Page,
    *,
    only_media: bool = False,
    exclude_replies: bool = False,
    exclude_reblogs: bool = False,
    tagged: str | None = None,
) -> list[Post]:
    stmt = select(Post).where(Post.author_id == account_id, Post.visibility.in_(list(visibilities)))
    if only_media:
        stmt = _media_only(stmt)
    if exclude_replies:
        stmt = stmt.where(Post.in_reply_to_uri.is_(None))
    if exclude_reblogs:
        stmt = stmt.where(Post.reblog_of_uri.is_(None))
    if tagged:
        stmt = stmt.where(Post.id.in_(select(PostTag.post_id).where(PostTag.tag == tagged)))
    stmt, oldest_first = apply_page(stmt, Post.id, page)
    return _finish((await session.scalars(stmt)).all(), oldest_first)


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
