"""Mastodon's entities (Status, Account, Tag, Relationship) built from our rows.

Every Status is written by one class, ``StatusWriter``, from ``StatusRow``s
(``status_rows``): the timelines read those rows straight from one statement
(``page_statuses``); single statuses and streams turn ORM posts into the same rows
(``Renderer``), with a fixed number of queries (counters, reblogged originals, reply
parents, mentions, the viewer's marks) whatever the page's length.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.kit.clock import as_utc
from backchannel.mastodon_api import post_queries as queries
from backchannel.mastodon_api import repository as repo
from backchannel.mastodon_api import status_rows
from backchannel.mastodon_api.status_rows import MentionedAccount, PageRows, StatusRow, utc_iso
from backchannel.people.models import Account
from backchannel.posts.models import Post

JSONDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Links:
    """The strings every entity derives from the instance's base URL."""

    base: str
    missing_avatar: str
    missing_header: str


@lru_cache(maxsize=8)
def links(base_url: str) -> Links:
    """Made once per base URL (a process has one), not for every account of every page."""
    return Links(
        base_url,
        f"{base_url}/avatars/original/missing.png",
        f"{base_url}/headers/original/missing.png",
    )


def tag_id(name: str) -> str:
    """A stable numeric id for a tag (we keep no tag rows; clients only need it stable)."""
    return str(int.from_bytes(hashlib.sha256(name.encode()).digest()[:7], "big"))


@lru_cache(maxsize=4096)
def _shared_tag(name: str, base_url: str) -> JSONDict:
    # Shared by every status that carries the tag: never mutated (tag_entity copies).
    return {"id": tag_id(name), "name": name, "url": f"{base_url}/tags/{name}", "history": []}


@lru_cache(maxsize=4096)
def _shared_tags(names: tuple[str, ...], base_url: str) -> list[JSONDict]:
    # A status's tags, shared by every status with the same ones: never mutated.
    return [_shared_tag(name, base_url) for name in names]


def tag_entity(name: str, base_url: str, *, following: bool | None = None) -> JSONDict:
    data = dict(_shared_tag(name, base_url))
    data["history"] = []
    if following is not None:
        data["following"] = following
        data["featuring"] = False
    return data


def _note_html(note: str) -> str:
    if not note or note.lstrip().startswith("<"):
        return note
    return "".join(f"<p>{html.escape(p)}</p>" for p in note.split("\n\n") if p.strip())


@dataclass(slots=True)
class StatusStats:
    """An account's status counters as read (or as a write group keeps them current);
    a plain value, not the ORM row: ingest updates them for every post."""

    statuses_count: int
    last_status_at: datetime | None


@dataclass
class AccountCounts:
    stats: dict[int, StatusStats] = field(default_factory=dict)
    followers: dict[int, int] = field(default_factory=dict)
    following: dict[int, int] = field(default_factory=dict)

    async def read(self, session: AsyncSession, ids: Collection[int]) -> None:
        """Add the counters of ``ids``, with one query (``repository.counts_of_accounts``)."""
        found = await repo.counts_of_accounts(session, ids)
        for account_id, (statuses, last, followers, following) in found.items():
            if statuses is not None:
                # Not tracked by the session: what changes them writes them itself.
                self.stats[account_id] = StatusStats(statuses, last)
            self.followers[account_id] = followers
            self.following[account_id] = following


def _account_json(
    urls: Links,
    account_id: int,
    acct: str,
    username: str,
    domain: str,
    display_name: str,
    note: str,
    avatar_url: str | None,
    profile_url: str | None,
    actor_uri: str | None,
    bot: bool | int,
    opted_out: bool | int,
    created_at: datetime | str,
    statuses_count: int | None,
    last_status_at: datetime | str | None,
    followers_count: int,
    following_count: int,
) -> JSONDict:
    """The Account entity from plain values as stored (the order of ``StatusRow``'s
    author part): of the times it shows the day."""
    base = urls.base
    avatar = avatar_url or urls.missing_avatar
    header = urls.missing_header
    opted_out = bool(opted_out)
    return {
        "id": str(account_id),
        "username": username,
        "acct": acct if domain else username,
        "display_name": display_name,
        "locked": False,
        "bot": bool(bot),
        "discoverable": not opted_out,
        "indexable": not opted_out,
        "group": False,
        "noindex": opted_out,
        "created_at": (utc_iso(created_at) or "")[:10] + "T00:00:00Z",
        "note": _note_html(note),
        "url": profile_url or f"{base}/@{username}",
        "uri": actor_uri or f"{base}/users/{username}",
        "avatar": avatar,
        "avatar_static": avatar,
        "header": header,
        "header_static": header,
        "followers_count": followers_count,
        "following_count": following_count,
        **_status_counters(statuses_count, last_status_at),
        "hide_collections": False,
        "emojis": [],
        "fields": [],
        "roles": [],
    }


def _status_counters(count: int | None, last_status_at: datetime | str | None) -> JSONDict:
    if isinstance(last_status_at, datetime):  # the day, without formatting the time
        day: str | None = as_utc(last_status_at).date().isoformat()
    else:
        last = utc_iso(last_status_at)
        day = last[:10] if last else None
    return {
        "statuses_count": count or 0,  # no counters row yet: nothing counted
        "last_status_at": day,
    }


_ACCOUNTS: dict[int, tuple[Links, tuple[Any, ...], JSONDict]] = {}
#: Where ``statuses_count`` and ``last_status_at`` sit in ``_account_json``'s values.
_COUNTERS = slice(12, 14)
_MAX_ACCOUNTS = 20_000


def _shared_account(urls: Links, values: tuple[Any, ...]) -> JSONDict:
    """``_account_json`` of ``values``, kept per account while they stay the same.

    A busy author's JSON is built once for all the pages that show it unchanged; any
    changed value (a counter, the profile) builds it again. Compared, not hashed: the
    values are fresh strings on every page. The dict is shared, never to be mutated
    (``credential_account`` adds to a copy)."""
    account_id: int = values[0]
    kept = _ACCOUNTS.get(account_id)
    if kept is not None and kept[0] is urls:
        if kept[1] == values:
            return kept[2]
        if kept[1][: _COUNTERS.start] == values[: _COUNTERS.start] and (
            kept[1][_COUNTERS.stop :] == values[_COUNTERS.stop :]
        ):
            # Only its status counters moved (it just posted): the rest stands.
            data = kept[2] | _status_counters(*values[_COUNTERS])
            _ACCOUNTS[account_id] = (urls, values, data)
            return data
    if len(_ACCOUNTS) >= _MAX_ACCOUNTS:
        _ACCOUNTS.clear()
    data = _account_json(urls, *values)
    _ACCOUNTS[account_id] = (urls, values, data)
    return data


def account_entity(account: Account, base_url: str, counts: AccountCounts) -> JSONDict:
    stats = counts.stats.get(account.id)
    values = (
        account.id,
        account.acct,
        account.username,
        account.domain,
        account.display_name,
        account.note,
        account.avatar_url,
        account.profile_url,
        account.actor_uri,
        account.bot,
        account.opted_out,
        account.created_at,
        stats.statuses_count if stats is not None else 0,
        stats.last_status_at if stats is not None else None,
        counts.followers.get(account.id, 0),
        counts.following.get(account.id, 0),
    )
    return _shared_account(links(base_url), values)


def credential_account(account: Account, base_url: str, counts: AccountCounts) -> JSONDict:
    """``verify_credentials``: the account plus its ``source`` and ``role``."""
    data = dict(account_entity(account, base_url, counts))
    data["source"] = {
        "privacy": "public",
        "sensitive": False,
        "language": None,
        "note": account.note,
        "fields": [],
        "follow_requests_count": 0,
    }
    role = account.role or "attendee"
    data["role"] = {"id": role, "name": role, "color": "", "permissions": "0", "highlighted": False}
    return data


def relationship(
    account_id: int, *, following: bool, followed_by: bool, note: str = ""
) -> JSONDict:
    return {
        "id": str(account_id),
        "following": following,
        "showing_reblogs": following,
        "notifying": False,
        "languages": None,
        "followed_by": followed_by,
        "blocking": False,
        "blocked_by": False,
        "muting": False,
        "muting_notifications": False,
        "requested": False,
        "requested_by": False,
        "domain_blocking": False,
        "endorsed": False,
        "note": note,
    }


def _media(post_id: int, source: str, media: list[Any]) -> list[JSONDict]:
    items = []
    for i, m in enumerate(media):
        url = m.get("url")
        items.append(
            {
                # An upload made here keeps its own id (apps send it back on an edit).
                "id": m.get("id") or f"{post_id}{i:02d}",
                "type": m.get("type", "image"),
                "url": url,
                "preview_url": m.get("preview_url") or url,
                "remote_url": url if source != "local" else None,
                "preview_remote_url": None,
                "text_url": None,
                "meta": m.get("meta") or {},
                "description": m.get("description") or None,
                "blurhash": m.get("blurhash"),
            }
        )
    return items


def _mention(found: Mapping[str, MentionedAccount], mention: Any, base: str) -> JSONDict | None:
    account = found.get(str(mention.get("acct")))
    if account is None:
        return None
    return {
        "id": str(account.id),
        "username": account.username,
        "acct": account.acct,
        "url": account.profile_url or f"{base}/@{account.username}",
    }


class StatusWriter:
    """Status JSON from ``StatusRow``s (the Account and Tag parts are shared: see
    ``_shared_account`` and ``_shared_tag``)."""

    def __init__(self, base_url: str, mentioned: Mapping[str, MentionedAccount]) -> None:
        self.urls = links(base_url)
        self.mentioned = mentioned
        #: The page's authors (one snapshot: the same values on each of their rows).
        self._authors: dict[int, JSONDict] = {}

    def page(self, rows: list[StatusRow], originals: Mapping[str, StatusRow]) -> list[JSONDict]:
        """``originals``: the boosted posts, by URI; a boost whose original is not
        stored here shows as a post of its own."""
        result = []
        for row in rows:
            original = originals.get(row.reblog_of_uri) if row.reblog_of_uri else None
            reblog = self.status(original, None) if original is not None else None
            result.append(self.status(row, reblog))
        return result

    def account(self, row: StatusRow) -> JSONDict:
        data = self._authors.get(row.author_id)
        if data is None:
            data = _shared_account(self.urls, status_rows.author_values(row))
            self._authors[row.author_id] = data
        return data

    def status(self, row: StatusRow, reblog: JSONDict | None) -> JSONDict:
        base = self.urls.base
        mentioned = self.mentioned
        mentions = [
            m for m in (_mention(mentioned, x, base) for x in row.mentions) if m is not None
        ]
        data: JSONDict = {
            "id": str(row.id),
            "created_at": row.created_at,
            "in_reply_to_id": str(row.parent_id) if row.parent_id is not None else None,
            "in_reply_to_account_id": (
                str(row.parent_author_id) if row.parent_id is not None else None
            ),
            "sensitive": row.sensitive,
            "spoiler_text": row.spoiler_text,
            "visibility": row.visibility,
            "language": row.language,
            "uri": row.source_uri,
            "url": row.url or row.source_uri,
            "replies_count": row.replies_count,
            "reblogs_count": row.reblogs_count,
            "favourites_count": row.favourites_count,
            "quotes_count": 0,
            "edited_at": row.edited_at,
            "content": "" if reblog is not None else row.content_html,
            "reblog": reblog,
            "application": None,
            "account": self.account(row),
            "media_attachments": _media(row.id, row.source, row.media) if row.media else [],
            "mentions": mentions,
            "tags": _shared_tags(tuple(row.tags), base),
            "emojis": [],
            "card": None,
            "poll": None,
        }
        if row.favourited is not None:
            data["favourited"] = row.favourited
            data["reblogged"] = bool(row.reblogged)
            data["muted"] = False
            data["bookmarked"] = False
            data["pinned"] = False
            data["filtered"] = []
        return data


def page_statuses(page: PageRows, base_url: str) -> list[JSONDict]:
    """A timeline page as Status JSON (``status_rows.read_page`` fetched it)."""
    return StatusWriter(base_url, page.mentioned).page(page.rows, page.originals)


class Renderer:
    """Status and Account JSON for one viewer (None: anonymous, and for streams)."""

    def __init__(self, session: AsyncSession, base_url: str, viewer: Account | None) -> None:
        self.session = session
        self.base_url = base_url
        self.viewer = viewer

    async def account_counts(self, ids: set[int]) -> AccountCounts:
        counts = AccountCounts()
        await counts.read(self.session, ids)
        return counts

    async def accounts(self, accounts: list[Account]) -> list[JSONDict]:
        counts = await self.account_counts({a.id for a in accounts})
        return [account_entity(a, self.base_url, counts) for a in accounts]

    async def account(self, account: Account) -> JSONDict:
        return (await self.accounts([account]))[0]

    async def status(self, post: Post, *, fresh: bool = False) -> JSONDict:
        return (await self.statuses([post], fresh=fresh))[0]

    async def statuses(self, posts: list[Post], *, fresh: bool = False) -> list[JSONDict]:
        """``fresh``: the posts were created in this very write, so nobody has
        favourited, boosted or answered them yet (ingest's hot path skips the counts)."""
        if not posts:
            return []
        session = self.session
        originals = await queries.posts_by_uris(
            session, {p.reblog_of_uri for p in posts if p.reblog_of_uri}
        )
        everything = [*posts, *originals.values()]
        parents = await queries.posts_by_uris(
            session, {p.in_reply_to_uri for p in everything if p.in_reply_to_uri}
        )
        mentioned = await queries.accounts_by_accts(
            session, {str(m.get("acct")) for p in everything for m in p.mentions if m.get("acct")}
        )
        post_ids = {p.id for p in everything}
        no_counts: dict[int, int] = {}
        favs, boosts, replies = (
            (no_counts, no_counts, no_counts)
            if fresh and not originals
            else await repo.status_counts(session, post_ids)
        )
        counts = await self.account_counts({p.author_id for p in everything})
        marks: tuple[set[int], set[int]] | None = None
        if self.viewer is not None:
            marks = await repo.viewer_marks(session, self.viewer.id, post_ids)

        def row(post: Post) -> StatusRow:
            stats = counts.stats.get(post.author_id)
            return status_rows.status_row(
                post,
                parent=parents.get(post.in_reply_to_uri or ""),
                counts=(favs.get(post.id, 0), boosts.get(post.id, 0), replies.get(post.id, 0)),
                stats=(
                    (stats.statuses_count, stats.last_status_at) if stats is not None else (0, None)
                ),
                follows=(
                    counts.followers.get(post.author_id, 0),
                    counts.following.get(post.author_id, 0),
                ),
                marks=(post.id in marks[0], post.id in marks[1]) if marks is not None else None,
            )

        found = {acct: status_rows.mention_of(account) for acct, account in mentioned.items()}
        writer = StatusWriter(self.base_url, found)
        return writer.page([row(p) for p in posts], {u: row(p) for u, p in originals.items()})
