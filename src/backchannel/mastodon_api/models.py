"""What the Mastodon client API keeps beside the core tables.

OAuth apps (client secrets hashed), one-time authorisation codes (with their PKCE
challenge), app-only tokens, the app behind each user token, favourites, reblogs,
follows of accounts and of hashtags, reply links, counters and idempotency keys.
User tokens themselves live in the core ``api_tokens`` table (hashed, with scopes).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backchannel.db.base import Base, BigInt, UTCDateTime
from backchannel.kit.clock import utcnow


class OAuthApp(Base):
    __tablename__ = "masto_apps"

    id: Mapped[int] = mapped_column(BigInt, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    #: SHA-256 of the client secret, hex: the secret itself is shown once.
    client_secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    website: Mapped[str | None] = mapped_column(String(2048), default=None)
    #: Newline-separated, as Mastodon takes them.
    redirect_uris: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuthorizationCode(Base):
    """A code handed to the app's redirect URI; used once, within minutes."""

    __tablename__ = "masto_auth_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("masto_apps.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    scopes: Mapped[str] = mapped_column(String(1024))
    #: PKCE (RFC 7636): the S256 challenge, if the app sent one.
    code_challenge: Mapped[str | None] = mapped_column(String(128), default=None)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TokenApp(Base):
    """Which app a user token (``api_tokens``) was issued to, for revocation by app."""

    __tablename__ = "masto_token_apps"

    token_hash: Mapped[str] = mapped_column(
        ForeignKey("api_tokens.token_hash", ondelete="CASCADE"), primary_key=True
    )
    app_id: Mapped[int] = mapped_column(ForeignKey("masto_apps.id", ondelete="CASCADE"), index=True)


class AppToken(Base):
    """A client-credentials token: the app itself, no user behind it."""

    __tablename__ = "masto_app_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("masto_apps.id", ondelete="CASCADE"), index=True)
    scopes: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Favourite(Base):
    __tablename__ = "masto_favourites"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Reblog(Base):
    """A boost: ``reblog_id`` is the post (made through ingest) that carries it."""

    __tablename__ = "masto_reblogs"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    reblog_id: Mapped[int] = mapped_column(BigInt, unique=True)


class AccountFollow(Base):
    __tablename__ = "masto_follows"

    follower_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    target_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    #: Sortable id: the follower and following lists page by it.
    id: Mapped[int] = mapped_column(BigInt, unique=True)

    __table_args__ = (Index("ix_masto_follows_target_follower", "target_id", "follower_id"),)


class TagFollow(Base):
    __tablename__ = "masto_tag_follows"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(255), primary_key=True)
    id: Mapped[int] = mapped_column(BigInt, unique=True)

    __table_args__ = (Index("ix_masto_tag_follows_tag_account", "tag", "account_id"),)


class Reply(Base):
    """A post answering another stored post: the context's descendants and counts."""

    __tablename__ = "masto_replies"

    parent_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AccountStats(Base):
    """Counters kept at ingest, so an account's JSON costs no count over its posts."""

    __tablename__ = "masto_account_stats"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    statuses_count: Mapped[int] = mapped_column(BigInt, default=0)
    last_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    #: Kept by database triggers on ``masto_follows`` (migration 0007), like PostStats.
    followers_count: Mapped[int] = mapped_column(BigInt, default=0, server_default="0")
    following_count: Mapped[int] = mapped_column(BigInt, default=0, server_default="0")


class PostStats(Base):
    """A post's favourites, reblogs and replies, so its JSON costs no count.

    Database triggers on the favourites, reblogs and replies tables keep them (migration
    0007): every way a row comes or goes, cascades included, counts; code never
    writes here.
    """

    __tablename__ = "masto_post_stats"

    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    favourites_count: Mapped[int] = mapped_column(BigInt, default=0, server_default="0")
    reblogs_count: Mapped[int] = mapped_column(BigInt, default=0, server_default="0")
    replies_count: Mapped[int] = mapped_column(BigInt, default=0, server_default="0")


class IdempotencyKey(Base):
    """``Idempotency-Key`` of a status post: the same key again gives the same status."""

    __tablename__ = "masto_idempotency_keys"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    post_id: Mapped[int] = mapped_column(BigInt)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
