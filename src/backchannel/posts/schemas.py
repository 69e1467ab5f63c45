"""What crosses the wire for posts: the one input every source builds (``PostIn``),
the native API's body (``PostCreate``), and a post's JSON."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from backchannel.db.base import loaded_values
from backchannel.kit.clock import isoformat
from backchannel.kit.text import without_nul
from backchannel.kit.urls import safe_url
from backchannel.media import links as media_links
from backchannel.people.schemas import AuthorIn
from backchannel.posts.models import Post, SourceKind, Visibility

MAX_TEXT = 20_000
MAX_HTML = 200_000


def _safe_or_none(value: str | None) -> str | None:
    return safe_url(value)


def _safe_required(value: str) -> str:
    url = safe_url(value)
    if url is None:
        raise ValueError("must be an absolute http(s) URL")
    return url


SafeUrl = Annotated[str | None, AfterValidator(_safe_or_none)]
ShortText = Annotated[str, StringConstraints(max_length=1500)]


class MediaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _strip_nul(cls, data: Any) -> Any:
        return without_nul(data)

    url: Annotated[
        str, StringConstraints(min_length=1, max_length=2048), AfterValidator(_safe_required)
    ]
    preview_url: SafeUrl = None
    #: Alt text; shown as text, never as HTML.
    description: ShortText = ""
    type: Annotated[str, StringConstraints(pattern=r"^(image|video|gifv|audio|unknown)$")] = "image"
    blurhash: Annotated[str, StringConstraints(max_length=100)] | None = None
    # An image uploaded here (``mastodon_api.media``) carries its id and Mastodon's
    # ``meta`` (size, focus). Left out of the stored JSON when unset, so remote media
    # are stored as before and an unchanged remote post still compares equal.
    id: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$")] | None = Field(
        default=None, exclude_if=lambda v: v is None
    )
    meta: (
        Annotated[
            dict[str, Annotated[dict[str, int | float | str], Field(max_length=8)]],
            Field(max_length=4),
        ]
        | None
    ) = Field(default=None, exclude_if=lambda v: v is None)


class PostIn(BaseModel):
    """A post as any source hands it to ``posts.service.ingest``."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _strip_nul(cls, data: Any) -> Any:
        return without_nul(data)

    source: SourceKind
    #: The source's own identifier; the same URI twice is one post.
    source_uri: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    url: SafeUrl = None
    #: A local author (posts made here) …
    author_id: int | None = None
    #: … or a remote one.
    author: AuthorIn | None = None
    #: HTML from a remote source (sanitised on ingest) …
    content_html: Annotated[str, StringConstraints(max_length=MAX_HTML)] | None = None
    #: … or plain text written here (escaped and linkified on ingest).
    text: Annotated[str, StringConstraints(max_length=MAX_TEXT)] | None = None
    title: Annotated[str, StringConstraints(max_length=1024)] | None = None
    language: (
        Annotated[str, StringConstraints(pattern=r"^[a-zA-Z]{2,3}([-_][a-zA-Z0-9]+)?$")] | None
    ) = None
    created_at: datetime | None = None
    edited_at: datetime | None = None
    visibility: Visibility = Visibility.PUBLIC
    sensitive: bool = False
    spoiler_text: ShortText = ""
    in_reply_to_uri: Annotated[str, StringConstraints(max_length=2048)] | None = None
    reblog_of_uri: Annotated[str, StringConstraints(max_length=2048)] | None = None
    media: list[MediaIn] = Field(default_factory=list, max_length=20)
    #: Tags the source states outside the text (Bluesky facets, feed categories).
    tags: list[Annotated[str, StringConstraints(max_length=300)]] = Field(
        default_factory=list, max_length=100
    )
    #: Events this post counts for whatever its tags (a feed registered to an event).
    event_ids: list[int] = Field(default_factory=list, max_length=50)


class PostCreate(BaseModel):
    """The native API's body for a post written here."""

    model_config = ConfigDict(extra="forbid")

    status: Annotated[str, StringConstraints(min_length=1, max_length=5000)]
    spoiler_text: ShortText = ""
    sensitive: bool = False
    visibility: Visibility = Visibility.PUBLIC
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")] | None = None
    in_reply_to_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$")] | None = None
    media: list[MediaIn] = Field(default_factory=list, max_length=4)


class PostEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Annotated[str, StringConstraints(min_length=1, max_length=5000)]
    spoiler_text: ShortText | None = None
    sensitive: bool | None = None
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")] | None = None


def _no_proxy(url: str | None) -> None:
    return None


def media_json(
    media: list[dict[str, Any]], proxied: Callable[[str | None], str | None] = _no_proxy
) -> list[dict[str, Any]]:
    """Media as the original URLs, and ``proxy_url``/``preview_proxy_url`` through
    this server's ``/media/`` (what walls and pages show; see ``backchannel.media``)."""
    return [
        {
            "type": m.get("type", "image"),
            "url": m.get("url"),
            "preview_url": m.get("preview_url") or m.get("url"),
            "proxy_url": proxied(m.get("url")),
            "preview_proxy_url": proxied(m.get("preview_url") or m.get("url")),
            "description": m.get("description") or "",
            "blurhash": m.get("blurhash"),
        }
        for m in media
    ]


_POST_FIELDS = frozenset(
    "id source_uri url source created_at edited_at content_html content_text title language "
    "visibility sensitive spoiler_text in_reply_to_uri reblog_of_uri media mentions tags "
    "author".split()
)
_AUTHOR_FIELDS = frozenset(
    "id acct username display_name avatar_url profile_url source bot".split()
)


def post_json(post: Post, base_url: str) -> dict[str, Any]:
    """A post as the native API and the streams show it (built once per post)."""
    p = loaded_values(post, _POST_FIELDS)
    account = p["author"]
    author = loaded_values(account, _AUTHOR_FIELDS)
    links = media_links.for_site(base_url)
    proxied = links.proxied if links is not None else _no_proxy
    return {
        "id": str(p["id"]),
        "uri": p["source_uri"],
        "url": p["url"],
        "source": p["source"],
        "created_at": isoformat(p["created_at"]),
        "edited_at": isoformat(p["edited_at"]),
        "content": p["content_html"],
        "text": p["content_text"],
        "title": p["title"],
        "language": p["language"],
        "visibility": p["visibility"],
        "sensitive": p["sensitive"],
        "spoiler_text": p["spoiler_text"],
        "in_reply_to_uri": p["in_reply_to_uri"],
        "reblog_of_uri": p["reblog_of_uri"],
        "media_attachments": media_json(p["media"], proxied),
        "mentions": p["mentions"],
        "tags": p["tags"],
        "account": {
            "id": str(author["id"]),
            "acct": author["acct"],
            "username": author["username"],
            "display_name": author["display_name"],
            "avatar": author["avatar_url"],
            "avatar_proxy_url": proxied(author["avatar_url"]),
            "url": author["profile_url"]
            or (f"{base_url}/@{author['username']}" if account.is_local else None),
            "source": author["source"],
            "bot": author["bot"],
        },
    }
