"""What crosses the wire for people: how a source describes an author (``AuthorIn``),
sign-in and account-creation bodies, and an account's JSON."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from backchannel.kit.text import without_nul
from backchannel.kit.urls import safe_url
from backchannel.people.models import Account, Role

MAX_ACCT = 320
MAX_NAME = 255
MAX_URL = 2048
MAX_NOTE = 10_000
MIN_PASSWORD = 8
#: Argon2 takes any length, but hashing megabytes per request is a cheap denial of service.
MAX_PASSWORD = 1024
USERNAME_RE = re.compile(r"[a-z0-9_]{1,30}")

AuthorSource = Literal["local", "mastodon", "activitypub", "bluesky", "feed"]

# Bidi embeddings, overrides and isolates: harmless as text, but they let a name
# reverse the text shown after it.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Schemes an author's identifier may have besides http(s): Bluesky's DIDs and at:// URIs.
_ID_SCHEME_RE = re.compile(r"(?:at://|did:)[\x21-\x7e]+")


def clean_text(value: str, max_length: int, *, multiline: bool = False) -> str:
    """``value`` without control characters (NUL breaks PostgreSQL), trimmed and cut to
    ``max_length``: a remote author's overlong name is shortened, not a reason to drop
    their post. ``multiline`` keeps line breaks and tabs (a bio)."""
    if not value.isprintable():
        keep = "\n\t" if multiline else ""
        value = "".join(
            c
            for c in value
            if c in keep or (unicodedata.category(c) != "Cc" and c not in _BIDI_CONTROLS)
        )
    return value.strip()[:max_length]


def _invalid(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(f"invalid_{kind}", message)


def normalise_acct(value: str) -> str:
    """``name@domain`` with the domain lowercased; a leading ``@`` is dropped.

    Raises ValueError unless there is exactly one ``@`` between two non-empty parts.
    (``PydanticCustomError`` is a ValueError whose message pydantic shows as it is.)
    """
    acct = value.strip().removeprefix("@")
    name, sep, domain = acct.partition("@")
    if not sep or not name or not domain or "@" in domain:
        raise _invalid("acct", "must be name@domain")
    if len(acct) > MAX_ACCT or len(name) > MAX_NAME or len(domain) > MAX_NAME:
        raise _invalid("acct", f"must be at most {MAX_ACCT} characters")
    if any(c.isspace() or not c.isprintable() for c in acct):
        raise _invalid("acct", "must not contain spaces or control characters")
    return f"{name}@{domain.lower()}"


def normalise_username(value: str) -> str:
    """A local username: 1–30 of ``a-z``, ``0-9`` and ``_``, lowercased."""
    username = value.strip().lower()
    if not USERNAME_RE.fullmatch(username):
        raise _invalid("username", "must be 1 to 30 letters a-z, digits or underscores")
    return username


def _safe_or_none(value: str | None) -> str | None:
    return safe_url(value, max_length=MAX_URL)


def _author_id_or_none(value: str | None) -> str | None:
    """An actor id is an http(s) URL (ActivityPub, feeds) or a DID / at:// URI (Bluesky)."""
    if value is None:
        return None
    value = value.strip()
    if len(value) <= MAX_URL and _ID_SCHEME_RE.fullmatch(value):
        return value
    return _safe_or_none(value)


def _name(value: Any) -> Any:
    return clean_text(value, MAX_NAME) if isinstance(value, str) else value


def _note(value: Any) -> Any:
    return clean_text(value, MAX_NOTE, multiline=True) if isinstance(value, str) else value


SafeUrl = Annotated[str | None, AfterValidator(_safe_or_none)]
DisplayName = Annotated[str, BeforeValidator(_name)]


class AuthorIn(BaseModel):
    """How a source describes a remote author; ``people.service.upsert_remote_author``
    turns it into an ``Account``. Unsafe URLs become None rather than errors, so one bad
    avatar link does not cost the post."""

    @model_validator(mode="before")
    @classmethod
    def _strip_nul(cls, data: Any) -> Any:
        return without_nul(data)

    model_config = ConfigDict(extra="forbid")

    acct: Annotated[str, AfterValidator(normalise_acct)]
    display_name: DisplayName = ""
    avatar_url: SafeUrl = None
    profile_url: SafeUrl = None
    #: ActivityPub actor id, feed URL, or Bluesky DID: how the source names the author.
    actor_uri: Annotated[str | None, AfterValidator(_author_id_or_none)] = None
    note: Annotated[str, BeforeValidator(_note)] = ""
    bot: bool = False
    opted_out: bool = False
    source: AuthorSource


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, StringConstraints(max_length=MAX_ACCT)]
    password: Annotated[str, StringConstraints(max_length=MAX_PASSWORD)]


class SuspendRequest(BaseModel):
    """An admin suspending an account; the reason goes to the log."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(max_length=1000)] = ""


class AccountCreate(BaseModel):
    """An admin creating a local account."""

    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, AfterValidator(normalise_username)]
    password: Annotated[str, StringConstraints(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]
    role: Role
    display_name: DisplayName = ""


def account_json(account: Account, base_url: str) -> dict[str, Any]:
    """An account as the native API shows it; ``role`` only for local accounts."""
    local = account.is_local
    return {
        "id": str(account.id),
        "acct": account.acct,
        "username": account.username,
        "domain": account.domain,
        "display_name": account.display_name,
        "avatar": account.avatar_url,
        "url": account.profile_url or (f"{base_url}/@{account.username}" if local else None),
        "source": account.source,
        "bot": account.bot,
        "role": account.role if local else None,
        "suspended": account.is_suspended,
    }
