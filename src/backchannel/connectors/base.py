"""What every connector runtime shares: its health, the door it hands posts to, its
cursor store, and the shape the supervisor runs.

A *runtime* is one live thing: the Jetstream connection (for every event that wants
Bluesky), one Mastodon server (for every event that listens there), one feed URL.
Organisers configure *connectors* per event; the supervisor folds them into the
runtimes they need (``connectors.service.desired_specs``) and keeps those running.
"""

from __future__ import annotations

import abc
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.config import Settings
from backchannel.connectors.models import ConnectorCursor, ConnectorStatus
from backchannel.db.writer import UnitOfWork, Writer
from backchannel.errors import AppError
from backchannel.kit.clock import utcnow
from backchannel.posts import service as posts
from backchannel.posts.schemas import PostIn

log = logging.getLogger(__name__)

#: The longest error text kept in a connector's health.
MAX_ERROR = 500


@dataclass
class Health:
    """A runtime's health, in memory; the supervisor writes it to its connectors."""

    status: ConnectorStatus = ConnectorStatus.STARTING
    last_error: str = ""
    last_error_at: datetime | None = None
    #: The source's time of the last event seen (Jetstream ``time_us``, a status's
    #: ``created_at``, a feed's fetch time).
    last_event_at: datetime | None = None
    #: When that event was processed here; with ``last_event_at`` it gives the lag.
    processed_at: datetime | None = None
    last_post_at: datetime | None = None
    counts: Counter[str] = field(default_factory=Counter)

    def ok(self, status: ConnectorStatus) -> None:
        self.status = status

    def error(self, message: str, status: ConnectorStatus = ConnectorStatus.ERROR) -> None:
        self.status = status
        self.last_error = message[:MAX_ERROR]
        self.last_error_at = utcnow()
        self.counts["errors"] += 1

    def seen(self, source_time: datetime | None) -> None:
        self.processed_at = utcnow()
        if source_time is not None:
            self.last_event_at = source_time

    def lag_seconds(self) -> float | None:
        if self.last_event_at is None or self.processed_at is None:
            return None
        return max(0.0, (self.processed_at - self.last_event_at).total_seconds())

    def snapshot(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "last_event_at": self.last_event_at,
            "last_post_at": self.last_post_at,
            "lag_seconds": self.lag_seconds(),
            "counts": dict(self.counts),
        }


#: A connector's own write that goes with a post's ingest (see ``Sink.post``).
AfterIngest = Callable[[UnitOfWork, posts.IngestResult], Awaitable[None]]


class Sink:
    """The one door, as a connector sees it: hand over a ``PostIn`` or a deletion.

    Each call is a write of its own; the writer groups concurrent ones into one
    transaction, so a connector that wants throughput has several in flight
    (``asyncio.gather``) and awaits them before it moves its cursor. A post the door
    refuses (bad content, a suspended author) is counted and skipped; a failure of
    the database itself raises, and the connector must not move its cursor past it.
    """

    def __init__(self, writer: Writer, base_url: str, health: Health) -> None:
        self._writer = writer
        self._base_url = base_url
        self.health = health

    async def post(
        self, data: PostIn, then: AfterIngest | None = None
    ) -> posts.IngestResult | None:
        """Ingest ``data``; ``then`` runs in the same transaction with the result, so
        what a connector keeps about the post commits with it."""
        base_url = self._base_url

        async def write(uow: UnitOfWork) -> posts.IngestResult:
            result = await posts.ingest(uow, data, base_url=base_url)
            if then is not None:
                await then(uow, result)
            return result

        try:
            result = await self._writer.submit(write)
        except (AppError, ValidationError) as exc:
            self.health.counts["refused"] += 1
            log.info("post %s refused: %s", data.source_uri, exc)
            return None
        self.health.counts[result.outcome] += 1
        if result.outcome in ("created", "updated"):
            self.health.last_post_at = utcnow()
        return result

    async def delete(self, source_uri: str) -> bool:
        async def write(uow: UnitOfWork) -> bool:
            return await posts.delete(uow, source_uri)

        try:
            found = await self._writer.submit(write)
        except AppError as exc:
            self.health.counts["refused"] += 1
            log.info("delete of %s refused: %s", source_uri, exc)
            return False
        self.health.counts["deleted"] += 1
        return found


class CursorStore:
    """Cursors by key. ``set`` commits through the writer: call it only after the
    posts before the cursor are committed (``Sink`` calls return after their commit).

    Going through the writer (not a session of its own) matters on SQLite: a second
    writing connection would meet the writer's lock and fail with "database is locked"."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], writer: Writer) -> None:
        self._sessionmaker = sessionmaker
        self._writer = writer

    async def get(self, key: str) -> str | None:
        async with self._sessionmaker() as session:
            return await session.scalar(
                select(ConnectorCursor.value).where(ConnectorCursor.key == key)
            )

    async def set(self, key: str, value: str) -> None:
        async def write(uow: UnitOfWork) -> None:
            row = await uow.session.get(ConnectorCursor, key)
            if row is None:
                uow.session.add(ConnectorCursor(key=key, value=value, updated_at=utcnow()))
            else:
                row.value = value
                row.updated_at = utcnow()

        await self._writer.submit(write)


@dataclass
class RuntimeContext:
    """What a runtime gets from the app."""

    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    writer: Writer
    #: The guarded client (``kit.http.make_client``); shared, do not close it.
    http: httpx.AsyncClient
    cursors: CursorStore

    @property
    def base_url(self) -> str:
        return self.settings.public_url()

    def sink(self, health: Health) -> Sink:
        return Sink(self.writer, self.base_url, health)


@dataclass(frozen=True)
class Spec:
    """What one runtime is asked to do, folded from the enabled connectors.

    ``key`` names the runtime ("bluesky", "mastodon:https://host", "feed:URL");
    ``connector_ids`` are the connectors whose health it reports; ``tags`` the
    normalised hashtags (without ``#``) of every event that uses it; ``options`` what
    else the kind needs (a token, a poll interval, the events a feed always counts for).
    """

    key: str
    kind: str
    target: str
    connector_ids: tuple[int, ...]
    tags: frozenset[str]
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)


class Runtime(abc.ABC):
    """One live source. The supervisor calls ``run`` in a task, cancels it to stop,
    calls ``configure`` when the spec changes while it runs (new tags: no reconnect
    needed where the source allows), and restarts ``run`` with backoff when it raises.
    ``run`` should handle the ordinary failures itself (reconnect, rotate hosts) and
    keep ``health`` current; raising is for what it cannot handle."""

    def __init__(self, ctx: RuntimeContext, spec: Spec) -> None:
        self.ctx = ctx
        self.spec = spec
        self.health = Health()
        self.sink = ctx.sink(self.health)

    def configure(self, spec: Spec) -> None:
        self.spec = spec

    @abc.abstractmethod
    async def run(self) -> None: ...


def from_timestamp_us(time_us: int) -> datetime:
    return datetime.fromtimestamp(time_us / 1_000_000, tz=UTC)
