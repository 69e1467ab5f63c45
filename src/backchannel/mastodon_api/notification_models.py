"""What the Mastodon API keeps for notifications and read markers.

A notification is written when its activity happens (a favourite, a boost, a follow,
a mention), with a sortable id of that moment, so a person's notifications page by
one index. Undoing the activity needs no bookkeeping here: a notification is shown
only while what made it still exists (``notification_queries``), and its status's
or its accounts' deletion deletes it (foreign keys).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from backchannel.db.base import Base, BigInt, UTCDateTime
from backchannel.kit.clock import utcnow


class NotificationType(enum.StrEnum):
    MENTION = "mention"
    FAVOURITE = "favourite"
    REBLOG = "reblog"
    FOLLOW = "follow"


class Notification(Base):
    __tablename__ = "masto_notifications"

    #: Sortable (``kit.ids``): made when the activity happened.
    id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    #: Who is notified.
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    #: Who did it.
    from_account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    #: The status it is about (a mention's post; the favourited or boosted post).
    status_id: Mapped[int | None] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), index=True, default=None
    )
    #: A boost's own post (``masto_reblogs.reblog_id``): unboosting deletes it.
    reblog_id: Mapped[int | None] = mapped_column(BigInt, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_masto_notifications_account_id_id", "account_id", "id"),)


class MarkerTimeline(enum.StrEnum):
    HOME = "home"
    NOTIFICATIONS = "notifications"


class Marker(Base):
    """Where a person stopped reading a timeline (``/api/v1/markers``), for their apps
    to agree on; the notifications marker is what ``unread_count`` counts from."""

    __tablename__ = "masto_markers"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    timeline: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_read_id: Mapped[int] = mapped_column(BigInt)
    #: Counts the updates, as Mastodon's ``version``.
    version: Mapped[int] = mapped_column(BigInt, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
