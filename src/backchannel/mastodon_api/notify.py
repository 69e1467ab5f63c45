"""Notifications as things happen, inside the write that makes them happen.

The write paths call these: ``favourite``, ``reblog`` and ``follow`` do what
``repository`` does for them and notify the person it concerns when it is new;
``post_changed`` (from ``publish.post_changed``) notifies the local accounts a new
post mentions. Each notification is stored, then framed once, as Mastodon does, on
the person's ``user`` and ``user:notification`` streams. Nobody is notified of their
own doing, and remote accounts are never notified (they have no notifications here).
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

import orjson

from backchannel.db.writer import UnitOfWork
from backchannel.kit.clock import utcnow
from backchannel.kit.ids import new_id
from backchannel.mastodon_api import notification_queries as queries
from backchannel.mastodon_api import post_queries
from backchannel.mastodon_api import repository as repo
from backchannel.mastodon_api.entities import Renderer
from backchannel.mastodon_api.notification_entities import notification_entities
from backchannel.mastodon_api.notification_models import Notification, NotificationType
from backchannel.people.models import Account
from backchannel.posts.models import Post, Visibility

FAVOURITE = NotificationType.FAVOURITE
REBLOG = NotificationType.REBLOG
FOLLOW = NotificationType.FOLLOW
MENTION = NotificationType.MENTION


def channel(account_id: int) -> str:
    """The ``user:notification`` stream's channel."""
    return f"m:notification:{account_id}"


async def favourite(uow: UnitOfWork, account: Account, post: Post, on: bool, base_url: str) -> None:
    """``repository.favourite``, and a new favourite notifies the post's author.

    Taking a favourite back needs nothing more: a notification is shown only while
    its favourite exists (``notification_queries``)."""
    session = uow.session
    new = on and not await queries.favourited(session, account.id, post.id)
    await repo.favourite(session, account.id, post.id, on)
    if new and _concerns(post.author, account):
        await queries.drop_earlier(session, post.author_id, FAVOURITE, account.id, post.id)
        await _notify(uow, post.author, FAVOURITE, account, base_url, status=post)


async def reblog(
    uow: UnitOfWork, account: Account, post: Post, reblog_id: int, base_url: str
) -> None:
    """``repository.add_reblog`` (``reblog_id``: the boost's own post), and the boosted
    post's author is notified."""
    await repo.add_reblog(uow.session, account.id, post.id, reblog_id)
    if _concerns(post.author, account):
        await _notify(uow, post.author, REBLOG, account, base_url, status=post, reblog_id=reblog_id)


async def follow(uow: UnitOfWork, follower: Account, target: Account, base_url: str) -> None:
    """``repository.add_follow``, and a new follow notifies the followed account."""
    session = uow.session
    new = not await queries.following(session, follower.id, target.id)
    await repo.add_follow(session, follower.id, target.id)
    if new and _concerns(target, follower):
        await session.flush()  # the follower's counters in the frame count it
        await queries.drop_earlier(session, target.id, FOLLOW, follower.id)
        await _notify(uow, target, FOLLOW, follower, base_url)


async def post_changed(uow: UnitOfWork, change: str, post: Post, base_url: str) -> None:
    """A new post notifies the local accounts it mentions (and who may read it); an
    edit notifies those it mentions now and did not before."""
    if change not in ("created", "edited") or not post.mentions:
        return
    names = mentioned_here(post, base_url)
    if not names:
        return
    found = await post_queries.accounts_by_accts(uow.session, names)
    readers = [a for a in found.values() if _concerns(a, post.author) and not a.is_suspended]
    if post.visibility == Visibility.PRIVATE.value:
        # Followers only, as ``access.can_see`` has it: a mention does not widen that.
        allowed = await queries.followers_among(
            uow.session, post.author_id, [a.id for a in readers]
        )
        readers = [a for a in readers if a.id in allowed]
    if change == "edited" and readers:
        told = await queries.mentioned_already(uow.session, post.id, [a.id for a in readers])
        readers = [a for a in readers if a.id not in told]
    for reader in sorted(readers, key=lambda a: a.id):
        await _notify(uow, reader, MENTION, post.author, base_url, status=post)


def mentioned_here(post: Post, base_url: str) -> list[str]:
    """The local usernames a post mentions: ``name@this-host`` in any post, and a bare
    ``name`` in a post written here (elsewhere it names someone on the author's server)."""
    hosts = _hosts(base_url)
    local = post.author.is_local
    names: list[str] = []
    for mention in post.mentions:
        name, _, domain = str(mention.get("acct") or "").lower().partition("@")
        if name and (domain in hosts or (not domain and local)) and name not in names:
            names.append(name)
    return names


@lru_cache(maxsize=8)
def _hosts(base_url: str) -> frozenset[str]:
    """How mentions name this server: its host, with the port and without."""
    parts = urlsplit(base_url)
    return frozenset({(parts.netloc or "").lower(), (parts.hostname or "").lower()} - {""})


def _concerns(reader: Account, actor: Account) -> bool:
    """Whether ``reader`` gets a notification of what ``actor`` did."""
    return reader.is_local and reader.id != actor.id


async def _notify(
    uow: UnitOfWork,
    reader: Account,
    kind: NotificationType,
    actor: Account,
    base_url: str,
    *,
    status: Post | None = None,
    reblog_id: int | None = None,
) -> None:
    notification = Notification(
        id=new_id(),
        account_id=reader.id,
        type=kind.value,
        from_account_id=actor.id,
        status_id=status.id if status is not None else None,
        reblog_id=reblog_id,
        created_at=utcnow(),
    )
    uow.session.add(notification)
    posts = {status.id: status} if status is not None else {}
    renderer = Renderer(uow.session, base_url, reader)
    [data] = await notification_entities(renderer, [(notification, actor)], posts)
    frame = orjson.dumps(data)
    # Mastodon sends them on the user stream too. Imported here: ``publish`` imports
    # this module (its ``post_changed`` calls ours).
    from backchannel.mastodon_api import publish

    uow.emit(publish.user(reader.id), "notification", frame)
    uow.emit(channel(reader.id), "notification", frame)
