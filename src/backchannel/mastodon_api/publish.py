"""What the Mastodon API adds to every post going through the one door.

Called by ``posts.service`` inside the writer's transaction when a post is created,
edited or deleted: keeps the API's counters and reply links, and puts the post on the
Mastodon channels it belongs to, framed as ingest framed it for its own channels (the
post's JSON, ``post_json``: one stored payload for all of them). The Status JSON is
rendered where a Mastodon stream is listening (``status_frames``), not here: most posts
are read by no Mastodon stream, and rendering one costs as much as storing it.

Channels: ``m:public`` (public posts only, never boosts) and ``m:user:ID`` (a local
person's home: their own posts, followed people's, followed tags'). The hashtag
streams are views of the native ``tag:TAG`` channels that ingest fills anyway, and the
local and remote streams views of those and of ``m:public`` (``status_frames``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from backchannel.db.writer import UnitOfWork
from backchannel.mastodon_api import notify
from backchannel.mastodon_api import post_queries as queries
from backchannel.mastodon_api import repository as repo
from backchannel.posts.models import Post, Visibility

Change = Literal["created", "edited", "deleted"]


def public(kind: str = "") -> str:
    return f"m:public:{kind}" if kind else "m:public"


def hashtag(tag: str, *, local: bool = False) -> str:
    """A hashtag stream: a view of the native ``tag:TAG`` channel (``status_frames``)."""
    return f"m:hashtag:local:{tag}" if local else f"m:hashtag:{tag}"


def user(account_id: int) -> str:
    return f"m:user:{account_id}"


def _public_channels(post: Post) -> list[str]:
    if post.visibility != Visibility.PUBLIC.value or post.reblog_of_uri is not None:
        return []
    return [public()]


# --- per-group caches: a group often carries many posts of few authors and tags -----


async def _home_readers(uow: UnitOfWork, author_id: int, tags: list[str]) -> set[int]:
    cache: dict[tuple[int, tuple[str, ...]], set[int]] = uow.cache("mastodon_api:readers")
    key = (author_id, tuple(sorted(tags)))
    found = cache.get(key)
    if found is None:
        found = cache[key] = await repo.home_readers(uow.session, author_id, key[1])
    return found


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
    post_bytes: bytes | None,
) -> None:
    """``post_bytes``: the post's JSON as its frames carry it (None when deleted)."""
    await _bookkeep(uow, post, change)
    await notify.post_changed(uow, change, post, base_url)
    channels = _public_channels(post) + await _home_channels(uow, post)
    gone = str(post.id).encode()
    if change == "deleted":
        for channel in channels:
            uow.emit(channel, "delete", gone)
        return
    assert post_bytes is not None
    event = "update" if change == "created" else "status.update"
    for channel in channels:
        uow.emit(channel, event, post_bytes)
