"""Walls: one screen's view of an event (a room, a session's tags), with its look."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backchannel.db.base import Base, BigInt, Json, UTCDateTime
from backchannel.kit.clock import utcnow


class Layout(enum.StrEnum):
    #: A grid of equal columns, newest top left.
    COLUMNS = "columns"
    #: Cards of their own height packed into columns, newest first.
    MASONRY = "masonry"
    #: One post at a time, large, the next ones waiting in a strip.
    SPOTLIGHT = "spotlight"


class Theme(enum.StrEnum):
    DARK = "dark"
    LIGHT = "light"
    #: The event's colours (``accent`` and ``background``) and logo.
    EVENT = "event"


class Wall(Base):
    """A named wall of an event. Without tags it shows every post on the event's wall;
    with tags (a room's session tags) only the posts carrying one of them."""

    __tablename__ = "walls"

    id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    tags: Mapped[list[str]] = mapped_column(Json, default=list)
    layout: Mapped[str] = mapped_column(String(16), default=Layout.COLUMNS)
    theme: Mapped[str] = mapped_column(String(16), default=Theme.DARK)
    #: ``#rrggbb``; used by the ``event`` theme.
    accent: Mapped[str | None] = mapped_column(String(7), default=None)
    background: Mapped[str | None] = mapped_column(String(7), default=None)
    logo_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
