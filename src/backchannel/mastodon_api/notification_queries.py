"""Every query on notifications.

A notification is *shown* while what made it still holds: the favourite is still
there, the boost's post, the follow, and a private mention's reader still follows its
author; and while its actor is not suspended. So undoing an activity needs no write
here, and pages agree with what the other endpoints show.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.kit.pages import Page, apply_page
from backchannel.mastodon_api.models import AccountFollow, Favourite
from backchannel.mastodon_api.notification_models import Notification, NotificationType
from backchannel.people.models import Account
from backchannel.posts.models import Post, Visibility

Row = tuple[Notification, Account]


def _still_holds() -> ColumnElement[bool]:
    n = Notification
    favourited = exists().where(
        Favourite.account_id == n.from_account_id, Favourite.post_id == n.status_id
    )
    boosted = exists().where(Post.id == n.reblog_id)
    follows_still = exists().where(
        AccountFollow.follower_id == n.from_account_id, AccountFollow.target_id == n.account_id
    )
    # A private post shows to its author's followers only (``access.can_see``). Nested
    # two deep, so correlated by hand: SQLAlchemy correlates to the enclosing query only.
    reader_follows = (
        exists()
        .where(AccountFollow.follower_id == n.account_id, AccountFollow.target_id == Post.author_id)
        .correlate_except(AccountFollow)
    )
    mention_visible = exists().where(
        Post.id == n.status_id,
        or_(Post.visibility != Visibility.PRIVATE.value, reader_follows),
    )
    return or_(
        and_(n.type == NotificationType.FAVOURITE.value, favourited),
        and_(n.type == NotificationType.REBLOG.value, boosted),
        and_(n.type == NotificationType.FOLLOW.value, follows_still),
        and_(n.type == NotificationType.MENTION.value, mention_visible),
    )


def _shown(
    account_id: int, types: Collection[str], from_account_id: int | None
) -> list[ColumnElement[bool]]:
    conditions = [
        Notification.account_id == account_id,
        Notification.type.in_(sorted(types)),
        Account.suspended_at.is_(None),
        _still_holds(),
    ]
    if from_account_id is not None:
        conditions.append(Notification.from_account_id == from_account_id)
    return conditions


def _with_actor() -> Any:
    return select(Notification, Account).join(Account, Account.id == Notification.from_account_id)


async def page(
    session: AsyncSession,
    account_id: int,
    page: Page,
    types: Collection[str],
    from_account_id: int | None = None,
) -> list[Row]:
    """The account's notifications of ``types``, newest first, with who did each."""
    if not types:
        return []
    stmt = _with_actor().where(*_shown(account_id, types, from_account_id))
    stmt, oldest_first = apply_page(stmt, Notification.id, page)
    rows: list[Row] = [(n, a) for n, a in (await session.execute(stmt)).all()]
    return rows[::-1] if oldest_first else rows


async def one(session: AsyncSession, account_id: int, notification_id: int) -> Row | None:
    stmt = _with_actor().where(
        Notification.id == notification_id,
        *_shown(account_id, [t.value for t in NotificationType], None),
    )
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row is not None else None


async def count_after(
    session: AsyncSession,
    account_id: int,
    after_id: int | None,
    types: Collection[str],
    from_account_id: int | None,
    cap: int,
) -> int:
    """How many shown notifications are newer than ``after_id``, counting up to ``cap``."""
    if not types:
        return 0
    ids = (
        select(Notification.id)
        .join(Account, Account.id == Notification.from_account_id)
        .where(*_shown(account_id, types, from_account_id))
    )
    if after_id is not None:
        ids = ids.where(Notification.id > after_id)
    counted = select(func.count()).select_from(ids.limit(cap).subquery())
    return int(await session.scalar(counted) or 0)


async def posts(session: AsyncSession, ids: Collection[int]) -> dict[int, Post]:
    if not ids:
        return {}
    rows = await session.scalars(select(Post).where(Post.id.in_(list(ids))))
    return {p.id: p for p in rows}


async def dismiss(session: AsyncSession, account_id: int, notification_id: int) -> bool:
    """Delete one notification of the account; whether there was one."""
    stmt = delete(Notification).where(
        Notification.id == notification_id, Notification.account_id == account_id
    )
    result = cast(CursorResult[Any], await session.execute(stmt))
    return result.rowcount > 0


async def clear(session: AsyncSession, account_id: int) -> None:
    await session.execute(delete(Notification).where(Notification.account_id == account_id))


# --- what the write-time hooks need ------------------------------------------------------


async def favourited(session: AsyncSession, account_id: int, post_id: int) -> bool:
    return await session.get(Favourite, (account_id, post_id)) is not None


async def following(session: AsyncSession, follower_id: int, target_id: int) -> bool:
    return await session.get(AccountFollow, (follower_id, target_id)) is not None


async def followers_among(
    session: AsyncSession, author_id: int, readers: Sequence[int]
) -> set[int]:
    """Those of ``readers`` who follow ``author_id``."""
    if not readers:
        return set()
    stmt = select(AccountFollow.follower_id).where(
        AccountFollow.target_id == author_id, AccountFollow.follower_id.in_(list(readers))
    )
    return set((await session.scalars(stmt)).all())


async def drop_earlier(
    session: AsyncSession,
    account_id: int,
    kind: NotificationType,
    from_account_id: int,
    status_id: int | None = None,
) -> None:
    """Forget an earlier, undone notification of the same kind (a favourite taken back
    and given again, an unfollow and a new follow): the new one takes its place."""
    stmt = delete(Notification).where(
        Notification.account_id == account_id,
        Notification.from_account_id == from_account_id,
        Notification.type == kind.value,
    )
    if status_id is not None:
        stmt = stmt.where(Notification.status_id == status_id)
    await session.execute(stmt)


async def mentioned_already(
    session: AsyncSession, status_id: int, account_ids: Collection[int]
) -> set[int]:
    """Which of ``account_ids`` have had a mention notification for this status."""
    found = await session.scalars(
        select(Notification.account_id).where(
            Notification.status_id == status_id,
            Notification.type == NotificationType.MENTION.value,
            Notification.account_id.in_(list(account_ids)),
        )
    )
    return set(found.all())
