"""Per-event moderation state of each post, and the audit log of every decision."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backchannel.db.base import Base, BigInt, Json, UTCDateTime
from backchannel.kit.clock import utcnow
from backchannel.posts.models import Post


class PostState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    HIDDEN = "hidden"


class EventPost(Base):
    """A post counted for an event, with where moderation put it."""

    __tablename__ = "event_posts"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    author_id: Mapped[int] = mapped_column(BigInt)
    state: Mapped[str] = mapped_column(String(16))
    #: Needs a moderator's look (approve-first pending, after-the-fact unreviewed).
    needs_review: Mapped[bool] = mapped_column(default=False)
    pinned: Mapped[bool] = mapped_column(default=False)
    #: Approved but held back by a frozen wall; shown when the wall is unfrozen.
    held: Mapped[bool] = mapped_column(default=False)
    #: Why a rule or a moderator decided as they did.
    reason: Mapped[str] = mapped_column(String(255), default="")
    decided_by: Mapped[int | None] = mapped_column(BigInt, default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Declared so one flush inserts the post before this row; never loaded.
    post: Mapped[Post] = relationship(lazy="raise")

    __table_args__ = (
        Index("ix_event_posts_event_state_post", "event_id", "state", "post_id"),
        Index("ix_event_posts_event_author_received", "event_id", "author_id", "received_at"),
    )


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(BigInt, default=None)
    actor_acct: Mapped[str] = mapped_column(String(320), default="")
    action: Mapped[str] = mapped_column(String(32))
    post_id: Mapped[int | None] = mapped_column(BigInt, default=None)
    target_acct: Mapped[str | None] = mapped_column(String(320), default=None)
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
