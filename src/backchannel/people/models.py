"""Accounts: local people who sign in here, and remote authors whose posts we store."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backchannel.db.base import Base, BigInt, UTCDateTime
from backchannel.kit.clock import utcnow


class Role(enum.StrEnum):
    ADMIN = "admin"
    ORGANISER = "organiser"
    MODERATOR = "moderator"
    ATTENDEE = "attendee"


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    #: ``name`` for local accounts, ``name@domain`` for remote ones (Bluesky: the handle
    #: or DID with ``@bsky.app``-style domain), unique: what people type to find someone.
    acct: Mapped[str] = mapped_column(String(320), unique=True)
    username: Mapped[str] = mapped_column(String(255))
    #: Empty for local accounts.
    domain: Mapped[str] = mapped_column(String(255), default="", index=True)
    #: Where the account comes from: local, mastodon, activitypub, bluesky, feed.
    source: Mapped[str] = mapped_column(String(32), default="local")
    display_name: Mapped[str] = mapped_column(String(255), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    avatar_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    profile_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    #: ActivityPub actor id (or at:// DID, feed URL): how a remote source names the author.
    actor_uri: Mapped[str | None] = mapped_column(String(2048), unique=True, default=None)
    role: Mapped[str | None] = mapped_column(String(16), default=None)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    bot: Mapped[bool] = mapped_column(default=False)
    #: The author opted out of being shown (noindex, !no-unauthenticated).
    opted_out: Mapped[bool] = mapped_column(default=False)
    #: When an admin suspended the account (None: not suspended). A suspended account's
    #: tokens and page sessions count as no account, and its remote posts are refused.
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def is_local(self) -> bool:
        return self.domain == ""

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, so a leaked database leaks no token."""

    __tablename__ = "api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255), default="")
    scopes: Mapped[str] = mapped_column(String(255), default="read write")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
