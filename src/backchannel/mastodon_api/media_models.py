"""Images uploaded through the Mastodon API (``POST /api/v2/media``), kept in the database.

In the database, not on disk: several ``serve`` processes share one database and its
backups, and no process has to find a file another one wrote.

An upload is free until a post uses it (``post_id``); a post that is deleted frees
its images again (``ON DELETE SET NULL``), so an app's "delete and redraft" can post
them anew. Uploads left free for a day are deleted by an hourly job
(``media_jobs``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backchannel.db.base import Base, BigInt, UTCDateTime
from backchannel.kit.clock import utcnow


class MediaUpload(Base):
    __tablename__ = "masto_media"

    #: Sortable (``kit.ids``), as Mastodon's are; shown as a string.
    id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    #: The post that shows it; ``None`` while it waits for one.
    post_id: Mapped[int | None] = mapped_column(
        ForeignKey("posts.id", ondelete="SET NULL"), index=True, default=None
    )
    #: Random, in the file's URL: a follower-only post's image cannot be guessed by id.
    key: Mapped[str] = mapped_column(String(32))
    #: What ``media.sniff`` found in the bytes (never what the client said).
    content_type: Mapped[str] = mapped_column(String(32))
    #: The file as uploaded; loaded only by the route that serves it.
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    size: Mapped[int] = mapped_column(Integer)
    #: As the image is shown (Exif orientation applied); ``None`` if unreadable.
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    #: Alt text, plain.
    description: Mapped[str] = mapped_column(Text, default="")
    #: The focal point for crops, each in [-1, 1] (Mastodon's ``meta.focus``).
    focus_x: Mapped[float | None] = mapped_column(Float, default=None)
    focus_y: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
