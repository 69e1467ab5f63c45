"""What crosses the wire for events: the bodies that create and change one, and its JSON.

Hashtags are normalised here, once (``#DK2018`` and ``dk2018`` are one tag), so the
service and the database only ever see canonical names.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from backchannel.events.models import Event, ModerationMode, TagKind
from backchannel.kit.clock import isoformat
from backchannel.moderation.schemas import Rules
from backchannel.posts.hashtags import normalize_tag

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
MAX_ALIASES = 50
MAX_SESSIONS = 200
MAX_SPEAKERS = 50
MAX_LANGUAGES = 50
MAX_DESCRIPTION = 10_000


def _hashtag(raw: str) -> str:
    tag = normalize_tag(raw)
    if tag is None:
        raise ValueError(
            f"'{raw}' is not a hashtag: it needs at least one letter and only letters,"
            " digits and '_'"
        )
    return tag


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("needs a timezone offset, such as '2025-05-14T09:00:00+02:00' or '…Z'")
    return value


def _lower(value: Any) -> Any:
    # Before the pattern is checked: "DE" and " Digital-Skills " are fine.
    return value.strip().lower() if isinstance(value, str) else value


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"'{name}' is not an IANA time zone name (such as 'Europe/Berlin' or 'UTC')"
        ) from None
    return name


Hashtag = Annotated[str, StringConstraints(max_length=1024), AfterValidator(_hashtag)]
AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
TimeZoneName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(_timezone),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN), BeforeValidator(_lower)]
Speaker = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Room = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]
#: An ISO 639-1 code.
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$"), BeforeValidator(_lower)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_DESCRIPTION)]


def slug_from_tag(tag: str) -> str | None:
    """``dk_2018`` → ``dk-2018``; None when the tag has nothing a slug can use (``東京``)."""
    slug = re.sub(r"[^a-z0-9]+", "-", tag.lower()).strip("-")[:64].rstrip("-")
    return slug if re.fullmatch(SLUG_PATTERN, slug) else None


def _unique_aliases(aliases: list[str], primary: str | None) -> list[str]:
    """In the given order, without repeats and without the primary tag."""
    seen: set[str] = set() if primary is None else {primary}
    unique = []
    for alias in aliases:
        if alias not in seen:
            seen.add(alias)
            unique.append(alias)
    return unique


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _check_not_before(ends_at: datetime | None, info: ValidationInfo) -> None:
    starts_at = info.data.get("starts_at")
    if ends_at is not None and starts_at is not None and ends_at < starts_at:
        raise ValueError("must not be before starts_at")


class SessionIn(BaseModel):
    """A talk or session; its own hashtag makes posts count for it (and the event)."""

    model_config = ConfigDict(extra="forbid")

    title: Name
    speakers: list[Speaker] = Field(default_factory=list, max_length=MAX_SPEAKERS)
    room: Room = ""
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    tag: Hashtag | None = None

    @field_validator("ends_at")
    @classmethod
    def _ends_after_start(cls, ends_at: datetime, info: ValidationInfo) -> datetime:
        starts_at = info.data.get("starts_at")
        if starts_at is not None and ends_at <= starts_at:
            raise ValueError("must be after starts_at")
        return ends_at


class EventCreate(BaseModel):
    """The body that creates an event; ``slug`` defaults to one made from the primary tag."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    #: The event's address (``/events/SLUG``); made from ``primary_tag`` when left out.
    slug: Slug | None = None
    #: The one hashtag the event asks everybody to use; no other event has it as primary.
    primary_tag: Hashtag
    #: Other spellings that count as well (``dk18`` for ``dk2018``).
    aliases: list[Hashtag] = Field(default_factory=list, max_length=MAX_ALIASES)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    timezone: TimeZoneName = "UTC"
    languages: list[Language] = Field(default_factory=list, max_length=MAX_LANGUAGES)
    #: Plain text; pages escape it.
    description: Description = ""
    moderation_mode: ModerationMode = ModerationMode.OPEN
    rules: Rules = Field(default_factory=Rules)
    sessions: list[SessionIn] = Field(default_factory=list, max_length=MAX_SESSIONS)

    @field_validator("aliases")
    @classmethod
    def _dedupe_aliases(cls, aliases: list[str], info: ValidationInfo) -> list[str]:
        return _unique_aliases(aliases, info.data.get("primary_tag"))

    @field_validator("languages")
    @classmethod
    def _dedupe_languages(cls, languages: list[str]) -> list[str]:
        return _unique(languages)

    @field_validator("ends_at")
    @classmethod
    def _ends_not_before_start(cls, ends_at: datetime, info: ValidationInfo) -> datetime:
        _check_not_before(ends_at, info)
        return ends_at

    @model_validator(mode="after")
    def _derive_slug(self) -> EventCreate:
        if self.slug is None:
            self.slug = slug_from_tag(self.primary_tag)
            if self.slug is None:
                raise ValueError(
                    f"slug: the primary tag '{self.primary_tag}' gives no slug;"
                    " choose one (lowercase letters, digits and '-')"
                )
        return self


class EventUpdate(BaseModel):
    """PATCH: only the fields given change; ``aliases`` and ``sessions`` replace the lists."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    slug: Slug | None = None
    primary_tag: Hashtag | None = None
    aliases: list[Hashtag] | None = Field(default=None, max_length=MAX_ALIASES)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    timezone: TimeZoneName | None = None
    languages: list[Language] | None = Field(default=None, max_length=MAX_LANGUAGES)
    description: Description | None = None
    moderation_mode: ModerationMode | None = None
    rules: Rules | None = None
    sessions: list[SessionIn] | None = Field(default=None, max_length=MAX_SESSIONS)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Validators do not run for left-out fields, so this only meets an explicit null.
        if value is None:
            raise ValueError("must not be null; leave the field out to keep its value")
        return value

    @field_validator("aliases")
    @classmethod
    def _dedupe_aliases(cls, aliases: list[str], info: ValidationInfo) -> list[str]:
        return _unique_aliases(aliases, info.data.get("primary_tag"))

    @field_validator("languages")
    @classmethod
    def _dedupe_languages(cls, languages: list[str]) -> list[str]:
        return _unique(languages)

    @field_validator("ends_at")
    @classmethod
    def _ends_not_before_start(
        cls, ends_at: datetime | None, info: ValidationInfo
    ) -> datetime | None:
        _check_not_before(ends_at, info)
        return ends_at


def event_json(event: Event, *, include_rules: bool) -> dict[str, Any]:
    """An event with its tags and sessions (both must be loaded); rules for moderators."""
    kinds = {row.tag: row.kind for row in event.tags}
    aliases = sorted(tag for tag, kind in kinds.items() if kind == TagKind.ALIAS)
    session_tags = sorted(tag for tag, kind in kinds.items() if kind == TagKind.SESSION)
    body: dict[str, Any] = {
        "id": str(event.id),
        "slug": event.slug,
        "name": event.name,
        "description": event.description,
        "primary_tag": event.primary_tag,
        "aliases": aliases,
        "tags": [event.primary_tag, *aliases, *session_tags],
        "timezone": event.timezone,
        "starts_at": isoformat(event.starts_at),
        "ends_at": isoformat(event.ends_at),
        "languages": list(event.languages),
        "moderation_mode": event.moderation_mode,
        "frozen": event.frozen_at is not None,
        "sessions": [
            {
                "id": str(s.id),
                "title": s.title,
                "speakers": list(s.speakers),
                "room": s.room,
                "starts_at": isoformat(s.starts_at),
                "ends_at": isoformat(s.ends_at),
                "tag": s.tag,
            }
            for s in event.sessions
        ],
    }
    if include_rules:
        body["rules"] = Rules.model_validate(event.rules).model_dump(mode="json")
    return body
