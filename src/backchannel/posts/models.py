"""The one post store: every post from every source, deduplicated by its source URI."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backchannel.db.base import Base, BigInt, Json, UTCDateTime
from backchannel.kit.clock import utcnow
from backchannel.people.models import Account


class SourceKind(enum.StrEnum):
    LOCAL = "local"
    MASTODON = "mastodon"
    ACTIVITYPUB = "activitypub"
    BLUESKY = "bluesky"
    FEED = "feed"


class Visibility(enum.StrEnum):
    PUBLIC = "public"
    UNLISTED = "unlisted"
    PRIVATE = "private"
    DIRECT = "direct"


class Post(Base):
    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    #: The source's own id for the post (ActivityPub id, at:// URI, feed entry id).
    source_uri: Mapped[str] = mapped_column(String(2048), unique=True)
    url: Mapped[str | None] = mapped_column(String(2048), default=None)
    author_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    #: Sanitised HTML, safe to put in a page as it is.
    content_html: Mapped[str] = mapped_column(Text, default="")
    content_text: Mapped[str] = mapped_column(Text, default="")
    #: Long posts (blog entries) keep their title.
    title: Mapped[str | None] = mapped_column(String(1024), default=None)
    language: Mapped[str | None] = mapped_column(String(16), default=None)
    visibility: Mapped[str] = mapped_column(String(16), default=Visibility.PUBLIC)
    sensitive: Mapped[bool] = mapped_column(default=False)
    spoiler_text: Mapped[str] = mapped_column(Text, default="")
    in_reply_to_uri: Mapped[str | None] = mapped_column(String(2048), default=None)
    #: A boost/repost of another post (``reblog_of_uri``): shown as such, hideable by rule.
    reblog_of_uri: Mapped[str | None] = mapped_column(String(2048), default=None)
    #: ``[{"url", "preview_url", "description", "type", "blurhash"}]``
    media: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    #: ``[{"acct", "url"}]``
    mentions: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    tags: Mapped[list[str]] = mapped_column(Json, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[Account] = relationship(lazy="joined")

    __table_args__ = (Index("ix_posts_author_id_id", "author_id", "id"),)


class PostTag(Base):
    """(tag, post) pairs: a tag's timeline is one range scan of this primary key."""

    __tablename__ = "post_tags"

    tag: Mapped[str] = mapped_column(String(255), primary_key=True)
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True, index=True
    )

    # Declared so one flush inserts posts before their tags (the unit of work orders
    # tables by relationships, not by bare foreign keys); never loaded.
    post: Mapped[Post] = relationship(lazy="raise", viewonly=False)


class Tombstone(Base):
    """A deleted post's source URI, so a late or replayed copy does not bring it back."""

    __tablename__ = "tombstones"

    source_uri: Mapped[str] = mapped_column(String(2048), primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
