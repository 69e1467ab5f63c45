"""What crosses the wire for connectors: the bodies that add and change one, and a
connector's JSON with its health (secrets are never shown back)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from backchannel.connectors.models import Connector
from backchannel.errors import NotFound
from backchannel.kit.clock import isoformat
from backchannel.kit.urls import safe_url

MAX_URL = 2048
Secret = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=512)]


def parse_connector_id(value: str) -> int:
    """A connector's id from a URL path; anything else is a 404 (not a 422)."""
    if not value.isdigit() or len(value) > 19:
        raise NotFound(f"no connector with the id '{value}'")
    return int(value)


def server_url(value: str) -> str:
    """A Mastodon server as ``https://host[:port]``: a bare host name is taken as
    https, a path is dropped (people paste profile or tag URLs)."""
    raw = value.strip()
    if "://" not in raw:
        if "/" not in raw and "@" in raw:
            raw = raw.rsplit("@", 1)[1]  # a handle: @name@server.example
        raw = "https://" + raw
    url = safe_url(raw)
    if url is None:
        raise ValueError("must be a server name or an http(s) URL")
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host.lower()}{port}"


def feed_url(value: str) -> str:
    url = safe_url(value.strip())
    if url is None:
        raise ValueError("must be an absolute http(s) URL")
    if len(url) > MAX_URL:
        raise ValueError(f"must be at most {MAX_URL} characters")
    return url


ServerUrl = Annotated[str, StringConstraints(max_length=MAX_URL), AfterValidator(server_url)]
FeedUrl = Annotated[str, StringConstraints(max_length=MAX_URL), AfterValidator(feed_url)]


class BlueskyIn(BaseModel):
    """Bluesky for this event: posts on the network carrying the event's tags.

    With an app password, the hours before the connector started are searched too."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["bluesky"]
    enabled: bool = True
    backfill_identifier: Secret | None = None
    backfill_app_password: Secret | None = None
    #: How far back backfill searches, in hours (0: no backfill).
    backfill_hours: int = Field(default=0, ge=0, le=168)


class MastodonIn(BaseModel):
    """A Mastodon (or compatible) server: its tag timelines for the event's tags."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["mastodon"]
    server: ServerUrl
    enabled: bool = True
    #: A user access token on that server (read:statuses): live streaming, and tag
    #: timelines on servers that require sign-in. Without one the timelines are polled.
    token: Secret | None = None
    #: Seconds between two polls at least (the server's rate limit may ask for more).
    poll_seconds: float | None = Field(default=None, ge=5, le=3600)


class FeedIn(BaseModel):
    """A blog's RSS, Atom or JSON Feed."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["feed"]
    url: FeedUrl
    enabled: bool = True
    #: "all": every new entry counts for the event (a feed registered to it);
    #: "tagged": only entries whose categories or text carry the event's tags.
    match: Literal["all", "tagged"] = "all"
    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] = ""
    poll_seconds: float | None = Field(default=None, ge=60, le=86_400)


ConnectorIn = Annotated[BlueskyIn | MastodonIn | FeedIn, Field(discriminator="kind")]


class ConnectorUpdate(BaseModel):
    """A change to a connector; what is left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    #: A new token; an empty string removes it.
    token: Annotated[str, StringConstraints(strip_whitespace=True, max_length=512)] | None = None
    poll_seconds: float | None = Field(default=None, ge=5, le=86_400)
    match: Literal["all", "tagged"] | None = None
    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] | None = None
    backfill_identifier: Secret | None = None
    backfill_app_password: Secret | None = None
    backfill_hours: int | None = Field(default=None, ge=0, le=168)


#: Config keys that hold secrets: stored, used, never shown back.
SECRET_KEYS = frozenset({"token", "backfill_app_password"})


def public_config(config: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in config.items() if k not in SECRET_KEYS}
    for key in SECRET_KEYS:
        if key in config:
            shown[f"{key}_set"] = bool(config[key])
    return shown


def connector_json(connector: Connector) -> dict[str, Any]:
    return {
        "id": str(connector.id),
        "event_id": str(connector.event_id),
        "kind": connector.kind,
        "target": connector.target,
        "enabled": connector.enabled,
        "config": public_config(connector.config),
        "health": {
            "status": connector.status,
            "last_error": connector.last_error or None,
            "last_error_at": isoformat(connector.last_error_at),
            "last_event_at": isoformat(connector.last_event_at),
            "last_post_at": isoformat(connector.last_post_at),
            "lag_seconds": connector.lag_seconds,
            "counts": connector.counts,
            "reported_at": isoformat(connector.health_at),
        },
        "created_at": isoformat(connector.created_at),
    }
