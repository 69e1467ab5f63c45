"""The sources forms: posted fields → the bodies the connectors API takes (one
validation for both), the problems in the reader's language, and a connector's
health as the page shows it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from babel.dates import format_timedelta
from pydantic import ValidationError
from starlette.datastructures import FormData

from backchannel.connectors.models import Connector
from backchannel.connectors.schemas import (
    BlueskyIn,
    ConnectorUpdate,
    FeedIn,
    MastodonIn,
    connector_json,
)
from backchannel.errors import AppError, Conflict
from backchannel.web.forms import FormError, text
from backchannel.web.i18n import N_
from backchannel.web.templating import translate

#: Fields a form shows again after a problem. Secrets are not among them: a token
#: typed into the page never travels back in HTML, even to the one who typed it.
KEPT_FIELDS = {
    "bluesky": (),
    "mastodon": ("server", "poll_seconds"),
    "feed": ("url", "title", "match"),
    "opml": ("match",),
}

_FIELD_LABELS = {
    "server": N_("Server"),
    "url": N_("Feed address"),
    "token": N_("Access token"),
    "poll_seconds": N_("Check every … seconds"),
    "match": N_("Which entries"),
    "title": N_("Title"),
    "enabled": N_("On"),
}

#: pydantic's error types, said in words we can translate.
_TYPE_MESSAGES = {
    "missing": N_("is required"),
    "greater_than_equal": N_("must be at least %(limit)s"),
    "less_than_equal": N_("must be at most %(limit)s"),
    "float_parsing": N_("must be a number"),
    "float_type": N_("must be a number"),
    "string_too_long": N_("is too long (at most %(limit)s characters)"),
    "string_too_short": N_("must not be empty"),
    "literal_error": N_("is not one of the choices"),
}

#: What ``connectors.schemas``' validators say; listed so they are translated.
_VALUE_MESSAGES = (
    N_("must be a server name or an http(s) URL"),
    N_("must be an absolute http(s) URL"),
)


def _optional(form: FormData, name: str) -> str | None:
    return text(form, name) or None


def add_body(form: FormData) -> BlueskyIn | MastodonIn | FeedIn:
    """The add form that was sent, validated as ``POST …/connectors`` validates it."""
    kind = text(form, "kind")
    if kind == "bluesky":
        return BlueskyIn.model_validate({"kind": "bluesky"})
    if kind == "mastodon":
        return MastodonIn.model_validate(
            {
                "kind": "mastodon",
                "server": text(form, "server"),
                "token": _optional(form, "token"),
                "poll_seconds": _optional(form, "poll_seconds"),
            }
        )
    if kind == "feed":
        return FeedIn.model_validate(
            {
                "kind": "feed",
                "url": text(form, "url"),
                "match": text(form, "match") or "all",
                "title": text(form, "title"),
            }
        )
    raise FormError(N_("Choose a kind of source."))


def update_body(form: FormData) -> ConnectorUpdate:
    """A switch (``enabled`` 1/0) or a new token, as ``PATCH …/connectors/ID`` takes it."""
    body: dict[str, Any] = {}
    if "enabled" in form:
        body["enabled"] = text(form, "enabled") == "1"
    if "token" in form:
        body["token"] = text(form, "token")
    return ConnectorUpdate.model_validate(body)


def match_choice(form: FormData) -> str:
    match = text(form, "match") or "all"
    if match not in ("all", "tagged"):
        raise FormError(N_("Choose every entry or only tagged ones."))
    return match


def kept_fields(form: FormData, which: str) -> dict[str, str]:
    return {name: text(form, name) for name in KEPT_FIELDS.get(which, ())}


def _validation_message(exc: ValidationError, locale: str) -> str:
    for err in exc.errors():
        loc = err.get("loc", ())
        field = str(loc[-1]) if loc else ""
        label = translate(locale, _FIELD_LABELS[field]) if field in _FIELD_LABELS else field
        kind = err.get("type", "")
        ctx = err.get("ctx") or {}
        if kind == "value_error":
            message = translate(locale, str(ctx.get("error", err.get("msg", ""))))
        elif kind in _TYPE_MESSAGES:
            limit = next((ctx[k] for k in ("ge", "le", "max_length") if k in ctx), "")
            message = translate(locale, _TYPE_MESSAGES[kind]) % {"limit": limit}
        else:
            message = str(err.get("msg", ""))
        return f"{label}: {message}" if label else message
    return translate(locale, N_("The form is not complete."))


def describe(exc: Exception, locale: str) -> str:
    """What went wrong, for the person who sent the form, in their language where
    we have the words (a remote server's own messages stay as they came)."""
    if isinstance(exc, ValidationError):
        return _validation_message(exc, locale)
    if isinstance(exc, Conflict):
        return translate(locale, N_("This event already has this source."))
    if isinstance(exc, AppError):
        return exc.message
    if isinstance(exc, FormError) and len(exc.args) > 1:
        # FormError(N_("… %s"), detail): the words translated, the detail as it came.
        return translate(locale, str(exc.args[0])) % tuple(str(a) for a in exc.args[1:])
    return translate(locale, str(exc))


def lag_text(seconds: float | None, locale: str) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return translate(locale, N_("under a second"))
    return format_timedelta(
        timedelta(seconds=seconds), threshold=1.5, format="short", locale=locale
    )


#: The counts the table shows, in this order (a runtime reports more).
SHOWN_COUNTS = ("kept", "dropped", "malformed")


def row(connector: Connector, locale: str) -> dict[str, Any]:
    """A connector as the table shows it: its JSON (what the script refreshes from)
    plus the words the server puts in."""
    data = connector_json(connector)
    counts = data["health"]["counts"] or {}
    data["shown_counts"] = {name: int(counts.get(name, 0)) for name in SHOWN_COUNTS}
    data["lag_text"] = lag_text(data["health"]["lag_seconds"], locale)
    return data
