"""Typed settings, read from the environment (``BACKCHANNEL_*``) and documented per field.

Nothing here runs at import time: ``Settings()`` is built by the CLI or a test and
handed to ``create_app(settings)``.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BACKCHANNEL_", extra="ignore")

    #: Where the SQLite database, the secret key and uploaded files live.
    data_dir: Path = Path("backchannel-data")
    #: SQLAlchemy URL. Empty means SQLite in ``data_dir``; use
    #: ``postgresql+asyncpg://user@host/db`` to scale out.
    database_url: str = ""
    #: How SQLAlchemy talks to SQLite: ``inline`` (``sqlite3`` called on the event
    #: loop: a statement blocks the loop for its microseconds, a lock wait does not) or
    #: ``aiosqlite`` (each connection a thread, every call a hop to it and back; ingest
    #: measured 1.2-1.35x slower, bench/results/ingest-sqlite-drivers.json). Ignored
    #: for PostgreSQL.
    sqlite_driver: Literal["inline", "aiosqlite"] = "inline"
    #: ``redis://host:6379/0`` switches the broker to Redis (several processes).
    #: Empty means the in-process broker.
    redis_url: str = ""
    #: Prefix for every Redis key and channel, so several installs (or test workers)
    #: can share one Redis.
    redis_prefix: str = "bc"
    #: The public URL people reach this server at (used in links and the demo output).
    base_url: str = ""
    #: Host and port ``serve`` binds to.
    host: str = "127.0.0.1"
    port: int = 8000
    #: Signs session cookies. Empty means: generate one and keep it in ``data_dir``.
    secret_key: str = ""
    #: Request bodies larger than this are refused with 413 before they are parsed.
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    #: Seconds between SSE heartbeat comments; proxies close idle connections.
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)
    #: How many frames a channel keeps in memory for subscribers to read at their own
    #: pace. A client further behind than this is dropped (and resumes with
    #: Last-Event-ID), so one slow client never holds up the others.
    stream_buffer_frames: int = Field(default=4096, ge=16)
    #: How long persisted stream entries are kept for Last-Event-ID resumption.
    stream_retention_hours: float = Field(default=48.0, gt=0)
    #: Seconds between two checks of the tokens behind open Mastodon streams: a token
    #: revoked, or an account suspended, in another process ends its streams this late
    #: at most. One query per check, however many streams are open.
    stream_token_check_seconds: float = Field(default=2.0, gt=0)
    #: Run durable jobs inside the serve process (off when ``backchannel worker``
    #: processes do it).
    run_jobs_in_process: bool = True
    #: How many writes the ingest writer commits together at most.
    write_batch_size: int = Field(default=256, ge=1)
    #: How long a write group waits at most for writes announced as on their way
    #: (``Writer.arriving``); 0 starts every group at once.
    write_gather_ms: float = Field(default=2.0, ge=0, le=100)

    # -- remote fetches and connectors ------------------------------------------------
    #: Let the HTTP client and the connectors reach private, loopback and link-local
    #: addresses. Off in production (a registered feed URL must not reach your
    #: database); tests and closed networks turn it on.
    http_allow_private: bool = False
    #: The largest body a connector or profile lookup reads from a remote server.
    http_max_bytes: int = Field(default=5_000_000, ge=1024)
    #: Run the connectors inside the serve process. With several processes, one of
    #: them holds a lease and runs them; the others stand by and take over.
    run_connectors: bool = True
    #: Seconds a process holds the connectors' lease without renewing it; after a
    #: crash, another process (or the restarted one) takes over after this long.
    connectors_lease_seconds: float = Field(default=20.0, ge=1.0)
    #: Jetstream v1 servers, tried in turn when one fails.
    bluesky_jetstream_urls: list[str] = [
        "wss://jetstream1.us-east.bsky.network",
        "wss://jetstream2.us-east.bsky.network",
        "wss://jetstream1.us-west.bsky.network",
        "wss://jetstream2.us-west.bsky.network",
    ]
    #: Bluesky's public API: profiles (handle, name, avatar) and, with an app
    #: password, search for backfill.
    bluesky_api_url: str = "https://public.api.bsky.app"
    #: Bluesky's API for signing in with an app password (backfill's searchPosts).
    bluesky_auth_url: str = "https://bsky.social"
    #: Seconds a Mastodon tag timeline is polled at most once (when no token allows
    #: streaming); the server's X-RateLimit headers can make it longer.
    mastodon_poll_seconds: float = Field(default=30.0, ge=0.05)
    #: Seconds between two polls of a feed (conditional GET, so cheap for both sides).
    feed_poll_seconds: float = Field(default=600.0, ge=0.05)
    #: Images on walls come through this server (``/media/…``), at most this big.
    media_max_bytes: int = Field(default=8_000_000, ge=1024)
    #: How much the media cache in ``data_dir`` keeps before it forgets the oldest.
    media_cache_bytes: int = Field(default=500_000_000, ge=1_000_000)
    #: The largest image an app may upload through the Mastodon API (``POST
    #: /api/v2/media``). Uploads are kept in the database, so its backups hold them.
    media_upload_max_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'backchannel.db').resolve()}"

    def resolved_secret_key(self) -> str:
        """The configured key, else one kept in the data directory (made on first use)."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key

    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")
