"""Mastodon's entities (Status, Account, Tag, Relationship) built from our rows.

A ``Renderer`` turns a page of posts into Status JSON with a fixed number of queries
(counters, reblogged originals, reply parents, mentions, the viewer's marks), whatever
the page's length.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.kit.clock import isoformat
from backchannel.mastodon_api import post_queries as queries
from backchannel.mastodon_api import repository as repo
from backchannel.mastodon_api.models import AccountStats
from backchannel.people.models import Account
from backchannel.posts.models import Post

JSONDict = dict[str, Any]


def tag_id(name: str) -> str:
    """A stable numeric id for a tag (we keep no tag rows; clients only need it stable)."""
    return str(int.from_bytes(hashlib.sha256(name.encode()).digest()[:7], "big"))


def tag_entity(name: str, base_url: str, *, following: bool | None = None) -> JSONDict:
    data: JSONDict = {
        "id": tag_id(name),
        "name": name,
        "url": f"{base_url}/tags/{name}",
        "history": [],
    }
    if following is not None:
        data["following"] = following
        data["featuring"] = False
    return data


def _note_html(note: str) -> str:
    if not note or note.lstrip().startswith("<"):
        return note
    return "".join(f"<p>{html.escape(p)}</p>" for p in note.split("\n\n") if p.strip())


@dataclass
class AccountCounts:
    stats: dict[int, AccountStats] = field(default_factory=dict)
    followers: dict[int, int] = field(default_factory=dict)
    following: dict[int, int] = field(default_factory=dict)


def account_entity(account: Account, base_url: str, counts: AccountCounts) -> JSONDict:
    local = account.is_local
    url = account.profile_url or f"{base_url}/@{account.username}"
    uri = account.actor_uri or f"{base_url}/users/{account.username}"
    avatar = account.avatar_url or f"{base_url}/avatars/original/missing.png"
    header = f"{base_url}/headers/original/missing.png"
    stats = counts.stats.get(account.id)
    last = stats.last_status_at if stats is not None else None
    created = account.created_at.replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "id": str(account.id),
        "username": account.username,
        "acct": account.acct if not local else account.username,
        "display_name": account.display_name,
        "locked": False,
        "bot": account.bot,
        "discoverable": not account.opted_out,
        "indexable": not account.opted_out,
        "group": False,
        "noindex": account.opted_out,
        "created_at": isoformat(created),
        "note": _note_html(account.note),
        "url": url,
        "uri": uri,
        "avatar": avatar,
        "avatar_static": avatar,
        "header": header,
        "header_static": header,
        "followers_count": counts.followers.get(account.id, 0),
        "following_count": counts.following.get(account.id, 0),
        "statuses_count": stats.statuses_count if stats is not None else 0,
        "last_status_at": last.date().isoformat() if last is not None else None,
        "hide_collections": False,
        "emojis": [],
        "fields": [],
        "roles": [],
    }


def credential_account(account: Account, base_url: str, counts: AccountCounts) -> JSONDict:
    """``verify_credentials``: the account plus its ``source`` and ``role``."""
    data = account_entity(account, base_url, counts)
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


def _media(post: Post) -> list[JSONDict]:
    items = []
    for i, m in enumerate(post.media):
        url = m.get("url")
        items.append(
            {
                "id": f"{post.id}{i:02d}",
                "type": m.get("type", "image"),
                "url": url,
                "preview_url": m.get("preview_url") or url,
                "remote_url": url if post.source != "local" else None,
                "preview_remote_url": None,
                "text_url": None,
                "meta": {},
                "description": m.get("description") or None,
                "blurhash": m.get("blurhash"),
            }
        )
    return items


class Renderer:
    """Status and Account JSON for one viewer (None: anonymous, and for streams)."""

    def __init__(self, session: AsyncSession, base_url: str, viewer: Account | None) -> None:
        self.session = session
        self.base_url = base_url
        self.viewer = viewer

    async def account_counts(self, ids: set[int]) -> AccountCounts:
        stats = await repo.account_stats(self.session, ids)
        followers, following = await repo.follow_counts(self.session, ids)
        return AccountCounts(stats, followers, following)

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

        def one(post: Post, reblog: JSONDict | None) -> JSONDict:
            parent = parents.get(post.in_reply_to_uri or "")
            data: JSONDict = {
                "id": str(post.id),
                "created_at": isoformat(post.created_at),
                "in_reply_to_id": str(parent.id) if parent else None,
                "in_reply_to_account_id": str(parent.author_id) if parent else None,
                "sensitive": post.sensitive,
                "spoiler_text": post.spoiler_text,
                "visibility": post.visibility,
                "language": post.language,
                "uri": post.source_uri,
                "url": post.url or post.source_uri,
                "replies_count": replies.get(post.id, 0),
                "reblogs_count": boosts.get(post.id, 0),
                "favourites_count": favs.get(post.id, 0),
                "quotes_count": 0,
                "edited_at": isoformat(post.edited_at),
                "content": "" if reblog is not None else post.content_html,
                "reblog": reblog,
                "application": None,
                "account": account_entity(post.author, self.base_url, counts),
                "media_attachments": _media(post),
                "mentions": [_mention(mentioned, m, self.base_url) for m in post.mentions],
                "tags": [tag_entity(t, self.base_url) for t in post.tags],
                "emojis": [],
                "card": None,
                "poll": None,
            }
            data["mentions"] = [m for m in data["mentions"] if m is not None]
            if marks is not None:
                data["favourited"] = post.id in marks[0]
                data["reblogged"] = post.id in marks[1]
                data["muted"] = False
                data["bookmarked"] = False
                data["pinned"] = False
                data["filtered"] = []
            return data

        result = []
        for post in posts:
            original = originals.get(post.reblog_of_uri or "")
            result.append(one(post, one(original, None) if original is not None else None))
        return result


def _mention(found: dict[str, Account], mention: dict[str, Any], base_url: str) -> JSONDict | None:
    account = found.get(str(mention.get("acct")))
    if account is None:
        return None
    return {
        "id": str(account.id),
        "username": account.username,
        "acct": account.acct,
        "url": account.profile_url or f"{base_url}/@{account.username}",
    }
