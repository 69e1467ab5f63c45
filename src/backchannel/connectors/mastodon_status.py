"""A Mastodon Status, as a server's REST API and streams serve it, turned into the one
``PostIn``. Pure: no I/O, so every odd status a server might send can be tested here.

The wire shape is validated first (``_Status``: a missing field or a wrong type makes
the status malformed); then what is merely untidy is tidied rather than refused (an
unknown media type, an overlong alt text, a language code the store does not know).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from backchannel.kit.clock import as_utc
from backchannel.kit.urls import safe_url
from backchannel.people.schemas import AuthorIn
from backchannel.posts.models import SourceKind, Visibility
from backchannel.posts.schemas import MediaIn, PostIn

#: What ``MediaIn`` and ``PostIn`` keep of an alt text or a content warning.
MAX_SHORT_TEXT = 1500
MAX_TAGS = 100
_MEDIA_TYPES = frozenset({"image", "video", "gifv", "audio", "unknown"})
_LANGUAGE_RE = re.compile(r"[a-zA-Z]{2,3}([-_][a-zA-Z0-9]+)?")
_VISIBILITIES = frozenset(v.value for v in Visibility)

StatusId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z]+$")]


class MalformedStatus(ValueError):
    """The JSON is not a Status this connector can take."""


def id_key(status_id: str) -> tuple[int, str]:
    """Sort key for status ids. Mastodon's are integers of varying length (compare
    ``"99"`` < ``"100"`` numerically, not as strings); servers with fixed-length
    sortable string ids (Pleroma's flake ids) compare as strings, which this also does."""
    return (len(status_id), status_id)


def newest_id(ids: list[str]) -> str | None:
    return max(ids, key=id_key) if ids else None


class KnownStatuses:
    """Server-local id → uri of the statuses stored lately, the oldest forgotten first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._uris: OrderedDict[str, str] = OrderedDict()

    def remember(self, status_id: str, uri: str) -> None:
        self._uris[status_id] = uri
        self._uris.move_to_end(status_id)
        while len(self._uris) > self.limit:
            self._uris.popitem(last=False)

    def forget(self, status_id: str) -> str | None:
        return self._uris.pop(status_id, None)


class _Wire(BaseModel):
    # Servers add fields all the time; only the ones read here are checked.
    model_config = ConfigDict(extra="ignore")


class _Account(_Wire):
    acct: Annotated[str, StringConstraints(min_length=1, max_length=400)]
    uri: str | None = None
    url: str | None = None
    display_name: str | None = None
    avatar: str | None = None
    note: str | None = None
    bot: bool | None = None
    #: Mastodon 4.0+: the local user asked not to be indexed by search engines.
    noindex: bool | None = None
    #: Mastodon 4.2+: the author allows their posts to be indexed (searched).
    indexable: bool | None = None


class _Media(_Wire):
    type: str | None = None
    url: str | None = None
    #: Where the origin server keeps it (``url`` is null until this server caches it).
    remote_url: str | None = None
    preview_url: str | None = None
    description: str | None = None
    blurhash: str | None = None


class _Tag(_Wire):
    name: Annotated[str, StringConstraints(min_length=1, max_length=300)]


class _Status(_Wire):
    id: StatusId
    uri: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    url: str | None = None
    created_at: datetime
    edited_at: datetime | None = None
    account: _Account
    content: str
    spoiler_text: str | None = None
    sensitive: bool | None = None
    language: str | None = None
    visibility: str
    in_reply_to_id: StatusId | None = None
    media_attachments: list[_Media] = Field(default_factory=list)
    tags: list[_Tag] = Field(default_factory=list)
    #: A boost: the boosted status, wrapped.
    reblog: dict[str, Any] | None = None


@dataclass(frozen=True)
class RemoteStatus:
    """A status as one server knows it."""

    #: The server's own id for it: the cursor, and what its stream's ``delete`` names.
    id: str
    #: Its ActivityPub id: the same post on several servers has one uri.
    uri: str
    created_at: datetime
    #: None for a boost: it says nothing of its own to store.
    post: PostIn | None


def status_id_of(raw: object) -> str | None:
    """The id of a status, even of one that is otherwise malformed (so the cursor can
    move past it instead of fetching it again on every poll)."""
    if isinstance(raw, dict):
        value = raw.get("id")
        if isinstance(value, str) and 0 < len(value) <= 64 and value.isalnum():
            return value
    return None


def opted_out(account: _Account) -> bool:
    """``noindex`` true, or ``indexable`` explicitly false: the author does not want to
    be indexed. A server that sends neither says nothing, which is not an opt-out."""
    return account.noindex is True or account.indexable is False


def parse_status(raw: object, *, server: str, local_domain: str) -> RemoteStatus:
    """``raw`` (one decoded Status) as a ``RemoteStatus``.

    ``server`` is the base URL of the server that served it; ``local_domain`` the
    domain of that server's own accounts (whose ``acct`` has no ``@domain``).
    Raises ``MalformedStatus``.
    """
    try:
        status = _Status.model_validate(raw)
    except ValidationError as exc:
        raise MalformedStatus(_first_error(exc)) from None
    created_at = as_utc(status.created_at)
    if status.reblog is not None:
        return RemoteStatus(status.id, status.uri, created_at, None)
    if status.visibility not in _VISIBILITIES:
        raise MalformedStatus(f"unknown visibility {status.visibility!r}")
    try:
        post = PostIn(
            source=SourceKind.MASTODON,
            source_uri=status.uri,
            url=status.url,
            author=_author(status.account, local_domain),
            content_html=status.content,
            spoiler_text=(status.spoiler_text or "")[:MAX_SHORT_TEXT],
            sensitive=bool(status.sensitive),
            language=_language(status.language),
            created_at=created_at,
            edited_at=as_utc(status.edited_at) if status.edited_at else None,
            visibility=Visibility(status.visibility),
            in_reply_to_uri=_reply_to(server, status.in_reply_to_id),
            media=[m for m in map(_media, status.media_attachments) if m is not None],
            tags=[t.name for t in status.tags[:MAX_TAGS]],
        )
    except ValidationError as exc:
        raise MalformedStatus(_first_error(exc)) from None
    return RemoteStatus(status.id, status.uri, created_at, post)


def _author(account: _Account, local_domain: str) -> AuthorIn:
    acct = account.acct if "@" in account.acct else f"{account.acct}@{local_domain}"
    return AuthorIn(
        source="mastodon",
        acct=acct,
        actor_uri=account.uri or account.url,
        display_name=account.display_name or "",
        avatar_url=account.avatar,
        profile_url=account.url,
        note=account.note or "",
        bot=bool(account.bot),
        opted_out=opted_out(account),
    )


def _media(media: _Media) -> MediaIn | None:
    """One attachment, or None when it has no usable URL (still processing, or not
    http(s)): a missing picture is no reason to lose the post."""
    url = safe_url(media.url) or safe_url(media.remote_url)
    if url is None:
        return None
    kind = media.type if media.type in _MEDIA_TYPES else "unknown"
    blurhash = media.blurhash if media.blurhash and len(media.blurhash) <= 100 else None
    try:
        return MediaIn(
            url=url,
            preview_url=media.preview_url,
            description=(media.description or "")[:MAX_SHORT_TEXT],
            type=kind,
            blurhash=blurhash,
        )
    except ValidationError:
        return None


def _language(value: str | None) -> str | None:
    # An unknown code is dropped (ingest then detects the language), not a bad post.
    return value if value and _LANGUAGE_RE.fullmatch(value) else None


def _reply_to(server: str, in_reply_to_id: str | None) -> str | None:
    """Mastodon names a reply's parent only by its own id; the parent's API URL on
    that server stands for it, so moderation's "hide replies" rule still sees a reply."""
    if in_reply_to_id is None:
        return None
    return f"{server}/api/v1/statuses/{in_reply_to_id}"


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "status"
    return f"{where}: {error['msg']}"
