"""What the Mastodon API adds to every post going through the one door.

Called by ``posts.service`` inside the writer's transaction when a post is created,
edited or deleted: keeps the API's counters and reply links, and frames the post
once as a Mastodon Status on the Mastodon channels it belongs to. Streams (SSE and
WebSocket) only read those frames; no per-client JSON work.

Channels: ``m:public``, ``m:public:local``, ``m:public:remote``, ``m:hashtag:TAG``,
``m:hashtag:local:TAG`` (public posts only, never boosts) and ``m:user:ID`` (a local
person's home: their own posts, followed people's, followed tags').
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

import orjson

from backchannel.db.writer import UnitOfWork
from backchannel.mastodon_api import post_queries as queries
from backchannel.mastodon_api import repository as repo
from backchannel.mastodon_api.entities import Renderer
from backchannel.posts.models import Post, Visibility

Change = Literal["created", "edited", "deleted"]


def public(kind: str = "") -> str:
    return f"m:public:{kind}" if kind else "m:public"


def hashtag(tag: str, *, local: bool = False) -> str:
    return f"m:hashtag:local:{tag}" if local else f"m:hashtag:{tag}"


def user(account_id: int) -> str:
    return f"m:user:{account_id}"


def _public_channels(post: Post, tags: Collection[str]) -> list[str]:
    if post.visibility != Visibility.PUBLIC.value or post.reblog_of_uri is not None:
        return []
    local = post.source == "local"
    names = [public(), public("local" if local else "remote")]
    for tag in tags:
        names.append(hashtag(tag))
        if local:
            names.append(hashtag(tag, local=True))
    return names


async def _home_channels(uow: UnitOfWork, post: Post) -> list[str]:
    session = uow.session
    readers: set[int] = set()
    if post.author.is_local:
        readers.add(post.author_id)
    if post.visibility == Visibility.DIRECT.value:
        accts = [str(m.get("acct")) for m in post.mentions if m.get("acct")]
        found = await queries.accounts_by_accts(session, accts)
        readers.update(a.id for a in found.values() if a.is_local)
    else:
        readers.update(await repo.local_followers(session, post.author_id))
        if post.visibility == Visibility.PUBLIC.value:
            readers.update(await repo.tag_followers(session, post.tags))
    return [user(i) for i in sorted(readers)]


async def _bookkeep(uow: UnitOfWork, post: Post, change: Change) -> None:
    if change == "edited" or post.visibility == Visibility.DIRECT.value:
        return
    delta = 1 if change == "created" else -1
    await repo.count_status(uow.session, post.author_id, post.created_at, delta)
    if change == "created" and post.in_reply_to_uri:
        parents = await queries.posts_by_uris(uow.session, [post.in_reply_to_uri])
        parent = parents.get(post.in_reply_to_uri)
        if parent is not None:
            await repo.add_reply(uow.session, parent.id, post.id)


async def post_changed(
    uow: UnitOfWork,
    change: Change,
    post: Post,
    base_url: str,
    removed_tags: Collection[str] = (),
) -> None:
    await _bookkeep(uow, post, change)
    channels = _public_channels(post, post.tags) + await _home_channels(uow, post)
    gone = str(post.id).encode()
    if change == "deleted":
        for channel in channels:
            uow.emit(channel, "delete", gone)
        return
    status = await Renderer(uow.session, base_url, None).status(post, fresh=change == "created")
    data = orjson.dumps(status)
    event = "update" if change == "created" else "status.update"
    for channel in channels:
        uow.emit(channel, event, data)
    if removed_tags:
        for channel in _public_channels(post, removed_tags):
            if channel.startswith("m:hashtag:"):
                uow.emit(channel, "delete", gone)
