"""Organiser forms: from posted fields to the same bodies the JSON API takes, so a
form and an API call go through one validation."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from starlette.datastructures import FormData

from backchannel.events.models import Event, TagKind
from backchannel.kit import csrf

#: Blank session rows an event form offers besides the existing ones.
EXTRA_SESSION_ROWS = 3
MAX_SESSION_ROWS = 200
_SPLIT = re.compile(r"[\s,]+")
_SESSION_FIELD = re.compile(r"^s[0-9]+_")


class FormError(ValueError):
    """What to tell the person who sent the form."""


def check_csrf(session: Any, form: FormData) -> None:
    token = form.get(csrf.FORM_FIELD)
    if not csrf.is_valid(session, token if isinstance(token, str) else None):
        raise FormError("The form expired. Reload the page and send it again.")


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def words(value: str) -> list[str]:
    return [w.lstrip("#@") for w in _SPLIT.split(value) if w.strip("#@")]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise FormError(f"'{name}' is not a time zone name (such as Europe/Berlin)") from None


def local_time(value: str, zone: ZoneInfo) -> str | None:
    """``2026-05-14T09:00`` (a datetime-local field) in the event's zone → ISO 8601."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=zone).isoformat()
    except ValueError:
        raise FormError(f"'{value}' is not a date and time") from None


def field_time(value: datetime | None, tz: str) -> str:
    """The other way: a stored time as a datetime-local field shows it."""
    if value is None:
        return ""
    return value.astimezone(_zone(tz)).strftime("%Y-%m-%dT%H:%M")


def event_body(form: FormData) -> dict[str, Any]:
    """The fields of an event form as an ``EventCreate`` / ``EventUpdate`` body."""
    tz = text(form, "timezone") or "UTC"
    zone = _zone(tz)
    sessions = []
    for i in range(MAX_SESSION_ROWS):
        title = text(form, f"s{i}_title")
        if f"s{i}_title" not in form:
            break
        if not title:
            continue
        sessions.append(
            {
                "title": title,
                "speakers": [
                    s.strip() for s in text(form, f"s{i}_speakers").split(",") if s.strip()
                ],
                "room": text(form, f"s{i}_room"),
                "starts_at": local_time(text(form, f"s{i}_starts_at"), zone),
                "ends_at": local_time(text(form, f"s{i}_ends_at"), zone),
                "tag": text(form, f"s{i}_tag").lstrip("#") or None,
            }
        )
    body: dict[str, Any] = {
        "name": text(form, "name"),
        "primary_tag": text(form, "primary_tag").lstrip("#"),
        "aliases": words(text(form, "aliases")),
        "starts_at": local_time(text(form, "starts_at"), zone),
        "ends_at": local_time(text(form, "ends_at"), zone),
        "timezone": tz,
        "languages": [v for v in form.getlist("languages") if isinstance(v, str)],
        "description": text(form, "description"),
        "moderation_mode": text(form, "moderation_mode") or "open",
        "sessions": sessions,
    }
    if text(form, "slug"):
        body["slug"] = text(form, "slug")
    return body


def describe(exc: ValidationError) -> str:
    """The first problem, as ``field: message`` (what the JSON API says too)."""
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        return f"{where}: {message}" if where else message
    return "invalid form"


def event_fields(event: Event) -> dict[str, Any]:
    """An event as its edit form shows it."""
    return {
        "name": event.name,
        "slug": event.slug,
        "primary_tag": event.primary_tag,
        "aliases": " ".join(sorted(t.tag for t in event.tags if t.kind == TagKind.ALIAS)),
        "starts_at": field_time(event.starts_at, event.timezone),
        "ends_at": field_time(event.ends_at, event.timezone),
        "timezone": event.timezone,
        "languages": list(event.languages),
        "description": event.description,
        "moderation_mode": event.moderation_mode,
        "sessions": [
            {
                "title": s.title,
                "speakers": ", ".join(s.speakers),
                "room": s.room,
                "starts_at": field_time(s.starts_at, event.timezone),
                "ends_at": field_time(s.ends_at, event.timezone),
                "tag": s.tag or "",
            }
            for s in event.sessions
        ],
    }


def posted_fields(form: FormData) -> dict[str, Any]:
    """What was sent, to show the form again with an error."""
    fields: dict[str, Any] = {k: text(form, k) for k in form if not _SESSION_FIELD.match(k)}
    fields["languages"] = [v for v in form.getlist("languages") if isinstance(v, str)]
    fields["sessions"] = []
    for i in range(MAX_SESSION_ROWS):
        if f"s{i}_title" not in form:
            break
        fields["sessions"].append(
            {
                k: text(form, f"s{i}_{k}")
                for k in ("title", "speakers", "room", "starts_at", "ends_at", "tag")
            }
        )
    return fields
