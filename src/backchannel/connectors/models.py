"""Connectors as organisers configure them (per event), their cursors and the lease
that lets one process of several run them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backchannel.db.base import Base, BigInt, Json, UTCDateTime
from backchannel.kit.clock import utcnow


class ConnectorKind(enum.StrEnum):
    BLUESKY = "bluesky"
    MASTODON = "mastodon"
    FEED = "feed"


class ConnectorStatus(enum.StrEnum):
    #: Configured; its runtime has not reported yet.
    STARTING = "starting"
    #: Connected to a live stream.
    CONNECTED = "connected"
    #: Polling (no live stream for it, or none configured).
    POLLING = "polling"
    #: Failing; retried with backoff. ``last_error`` says why.
    ERROR = "error"
    #: The remote side wants a sign-in or a better token; not retried in a tight
    #: loop. ``last_error`` says what to do.
    UNAUTHORIZED = "unauthorized"
    #: Switched off by an organiser, or its event is over.
    STOPPED = "stopped"


class Connector(Base):
    """One source for one event: Bluesky (``target`` empty), a Mastodon server
    (``target`` its URL) or a feed (``target`` its URL)."""

    __tablename__ = "connectors"

    id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(2048), default="")
    #: Kind-specific settings, validated by ``connectors.schemas``. Secrets (a
    #: Mastodon token, a Bluesky app password) live here and are never shown back.
    config: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Health, as the process running the connector last reported it.
    status: Mapped[str] = mapped_column(String(16), default=ConnectorStatus.STARTING)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    #: When the source last said anything (the source's clock where it has one).
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    #: When a post from it was last stored.
    last_post_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    #: Seconds between the source's time of the last event and its processing here.
    lag_seconds: Mapped[float | None] = mapped_column(default=None)
    #: received, kept, dropped, malformed, failed, deleted …, since the runtime started.
    counts: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    health_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("event_id", "kind", "target"),)


class ConnectorCursor(Base):
    """Where a runtime resumes: Jetstream's ``time_us``, a tag timeline's ``min_id``, a
    feed's ETag. Written only after the posts before it are committed."""

    __tablename__ = "connector_cursors"

    key: Mapped[str] = mapped_column(String(2100), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConnectorLease(Base):
    """Who runs the connectors now. Several processes may be configured to run them;
    one holds this lease and renews it, the others take over once it runs out."""

    __tablename__ = "connector_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RemoteStatusId(Base):
    """A Mastodon server's own id for a status stored here.

    A stream's ``delete`` names only that id, not the status's uri; kept in the
    database (not only in the runtime's memory) so a delete after a restart, or one
    that reaches another process, still takes the post off the walls. It goes with its
    post.
    """

    __tablename__ = "connector_status_ids"

    #: The server's base URL, as the connector's target gives it.
    server: Mapped[str] = mapped_column(String(255), primary_key=True)
    status_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
