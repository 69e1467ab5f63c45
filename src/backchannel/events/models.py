"""Events, their hashtags (primary, aliases, sessions'), sessions and moderators."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backchannel.db.base import Base, BigInt, Json, UTCDateTime
from backchannel.kit.clock import utcnow


class ModerationMode(enum.StrEnum):
    #: Everything the rules let through is shown at once; nothing is queued.
    OPEN = "open"
    #: Shown at once, and queued for a moderator to review afterwards.
    AFTER_THE_FACT = "after_the_fact"
    #: Nothing is shown until a moderator approves it (trusted authors excepted).
    APPROVE_FIRST = "approve_first"


class TagKind(enum.StrEnum):
    PRIMARY = "primary"
    ALIAS = "alias"
    SESSION = "session"


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    primary_tag: Mapped[str] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    languages: Mapped[list[str]] = mapped_column(Json, default=list)
    moderation_mode: Mapped[str] = mapped_column(String(32), default=ModerationMode.OPEN)
    #: Validated by ``moderation.schemas.Rules``.
    rules: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    #: While frozen, nothing new reaches the wall; it stays where it is.
    frozen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tags: Mapped[list[EventTag]] = relationship(
        back_populates="event", cascade="all, delete-orphan", lazy="raise"
    )
    sessions: Mapped[list[EventSession]] = relationship(
        back_populates="event",
        cascade="all, delete-orphan",
        lazy="raise",
        order_by="EventSession.starts_at",
    )


class EventSession(Base):
    """A talk or session inside an event, with its own hashtag."""

    __tablename__ = "event_sessions"

    id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(255))
    speakers: Mapped[list[str]] = mapped_column(Json, default=list)
    room: Mapped[str] = mapped_column(String(255), default="")
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    tag: Mapped[str | None] = mapped_column(String(255), default=None)

    event: Mapped[Event] = relationship(back_populates="sessions")


class EventTag(Base):
    """Every tag that makes a post count for an event; the index ingest matches on."""

    __tablename__ = "event_tags"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)
    kind: Mapped[str] = mapped_column(String(16))

    event: Mapped[Event] = relationship(back_populates="tags")


class EventModerator(Base):
    __tablename__ = "event_moderators"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
