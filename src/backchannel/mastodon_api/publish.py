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
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy.orm import Session

from backchannel.db.writer import UnitOfWork
from backchannel.mastodon_api import notify
from backchannel.mastodon_api import post_queries as queries
from backchannel.mastodon_api import repository as repo
from backchannel.mastodon_api.entities import AccountCounts, Renderer, StatusStats
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


# --- per-group caches: a group often carries many posts of few authors and tags -----


async def _home_readers(uow: UnitOfWork, author_id: int, tags: list[str]) -> set[int]:
    cache: dict[tuple[int, tuple[str, ...]], set[int]] = uow.cache("mastodon_api:readers")
    key = (author_id, tuple(sorted(tags)))
    found = cache.get(key)
    if found is None:
        found = cache[key] = await repo.home_readers(uow.session, author_id, key[1])
    return found


async def _account_counts(uow: UnitOfWork, ids: set[int]) -> AccountCounts:
    """The counters of accounts this group shows: read once per account and group,
    then kept current here as the group's posts change them (``_StatusCounts``)."""
    cache = uow.cache("mastodon_api:account_counts")
    counts: AccountCounts = cache.setdefault("counts", AccountCounts())
    known: set[int] = cache.setdefault("known", set())
    missing = ids - known
    if missing:
        # The group's upsert (``_StatusCounts``) writes what its posts change.
        await counts.read(uow.session, missing)
        known |= missing
    return counts


class _GroupRenderer(Renderer):
    """Statuses as streams get them, with the group's account counters."""

    def __init__(self, uow: UnitOfWork, base_url: str) -> None:
        super().__init__(uow.session, base_url, None)
        self._uow = uow

    async def account_counts(self, ids: set[int]) -> AccountCounts:
        return await _account_counts(self._uow, ids)


class _StatusCounts:
    """Status count changes of the group's posts per account, written with one upsert."""

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, Any]] = {}

    def add(self, account_id: int, delta: int, at: datetime) -> None:
        row = self.rows.get(account_id)
        if row is None:
            row = self.rows[account_id] = {
                "account_id": account_id,
                "delta": 0,
                "latest": None,
                "at": at,
            }
        row["delta"] += delta
        if delta > 0 and (row["latest"] is None or row["latest"] < at):
            row["latest"] = at

    def write(self, session: Session) -> None:
        repo.count_statuses(session, list(self.rows.values()))
        self.rows = {}


async def _home_channels(uow: UnitOfWork, post: Post) -> list[str]:
    readers: set[int] = set()
    if post.author.is_local:
        readers.add(post.author_id)
    if post.visibility == Visibility.DIRECT.value:
        accts = [str(m.get("acct")) for m in post.mentions if m.get("acct")]
        found = await queries.accounts_by_accts(uow.session, accts)
        readers.update(a.id for a in found.values() if a.is_local)
    else:
        public = post.visibility == Visibility.PUBLIC.value
        readers.update(await _home_readers(uow, post.author_id, post.tags if public else []))
    return [user(i) for i in sorted(readers)]


async def _bookkeep(uow: UnitOfWork, post: Post, change: Change) -> None:
    if change == "edited" or post.visibility == Visibility.DIRECT.value:
        return
    delta = 1 if change == "created" else -1
    counts = await _account_counts(uow, {post.author_id})
    stats = counts.stats.get(post.author_id)
    if stats is None:
        stats = counts.stats[post.author_id] = StatusStats(0, None)
    stats.statuses_count = max(stats.statuses_count + delta, 0)
    if delta > 0 and (stats.last_status_at is None or stats.last_status_at < post.created_at):
        stats.last_status_at = post.created_at
    changes = uow.deferred("mastodon_api:status_counts", _StatusCounts)
    changes.add(post.author_id, delta, post.created_at)
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
    await notify.post_changed(uow, change, post, base_url)
    channels = _public_channels(post, post.tags) + await _home_channels(uow, post)
    gone = str(post.id).encode()
    if change == "deleted":
        for channel in channels:
            uow.emit(channel, "delete", gone)
        return
    status = await _GroupRenderer(uow, base_url).status(post, fresh=change == "created")
    data = orjson.dumps(status)
    event = "update" if change == "created" else "status.update"
    for channel in channels:
        uow.emit(channel, event, data)
    if removed_tags:
        for channel in _public_channels(post, removed_tags):
            if channel.startswith("m:hashtag:"):
                uow.emit(channel, "delete", gone)
