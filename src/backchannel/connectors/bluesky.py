"""The Bluesky connector: one Jetstream v1 connection for every event that wants Bluesky.

The stream carries every post on the network (25–40 a second, peaks several times that,
and tens of thousands a second while catching up after a restart); a handful carry an
event's tags. So the receive loop is lean:
one ``orjson.loads`` and a look at the record's facets per event, no model, no
database, no profile lookup for what is dropped. What is kept becomes an *op* that runs
as a task of its own: profile lookup, ``PostIn``, the door. Ops of one at-URI run in
the order they arrived (a create, its edit, its delete); ops of different posts run
side by side, at most ``MAX_IN_FLIGHT`` at once — beyond that the loop stops reading and
the socket pushes back.

The cursor (Jetstream's ``time_us``) is written about once a second and on a clean
stop, and only up to where every kept op before it has committed: a crash, even a
SIGKILL, at worst replays a few seconds, which deduplication by at-URI makes harmless.
A restart resumes ``REWIND_US`` before it, because ``time_us`` is not strictly ordered.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
from pydantic import ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidURI, WebSocketException

from backchannel.connectors.base import Runtime, RuntimeContext, Spec, from_timestamp_us
from backchannel.connectors.bluesky_backfill import Backfills
from backchannel.connectors.bluesky_profiles import ProfileDirectory
from backchannel.connectors.bluesky_store import StoredPosts
from backchannel.connectors.jetstream import (
    POST_COLLECTION,
    TagFilter,
    at_uri,
    post_in,
    valid_did,
    valid_rkey,
)
from backchannel.connectors.models import ConnectorStatus
from backchannel.db.writer import UnitOfWork
from backchannel.kit.http import check_url, user_agent
from backchannel.moderation import service as moderation
from backchannel.people import service as people
from backchannel.people.schemas import AuthorIn

log = logging.getLogger(__name__)

CURSOR_KEY = "bluesky:jetstream"
#: A restart resumes this long (µs) before the stored cursor: ``time_us`` goes
#: backwards now and then, and replaying what is stored changes nothing.
REWIND_US = 5_000_000
#: Kept posts being written at once; beyond that the receive loop waits.
MAX_IN_FLIGHT = 128
#: Seconds between two cursor writes (and health updates).
CURSOR_EVERY = 1.0
#: Events larger than this are skipped (and Jetstream is asked not to send them).
MAX_EVENT_BYTES = 256 * 1024
#: Frames larger than this end the connection: a memory bound, not a post limit.
MAX_FRAME_BYTES = 4 * 1024 * 1024
#: Seconds a stopping runtime waits for its writes before it gives up on them.
DRAIN_SECONDS = 10.0

# What a broken connection raises; the runtime reconnects on each.
_CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    WebSocketException,
    InvalidURI,
    # check_url: UnsafeURL (a RequestError: scheme or address refused), or a name
    # that does not resolve (ConnectError, a TransportError).
    httpx.RequestError,
)


async def _update_author(author: AuthorIn, uow: UnitOfWork) -> None:
    account = await people.upsert_remote_author(uow.session, author)
    if account.opted_out:
        # The profile, looked up late, says no: what was shown under the DID goes.
        await moderation.withdraw_opted_out(uow, account)


class WriteFailed(Exception):
    """Storing a kept post failed (the database, not the post): reconnect and replay."""


@dataclass(slots=True)
class _Op:
    """A kept event: a post to store (or edit), or a stored post to delete."""

    uri: str
    did: str
    rkey: str
    time_us: int
    record: dict[str, Any] | None  # None: a delete
    edited: bool = False
    #: Kept only if the post is stored here, which memory could not tell.
    check: bool = False


class BlueskyRuntime(Runtime):
    """The ``bluesky`` runtime; ``spec.tags`` are every Bluesky-using event's tags."""

    #: First reconnect pause (seconds), doubled per failed attempt up to the cap.
    retry_first = 1.0
    retry_cap = 60.0
    #: Seconds between two cursor writes.
    cursor_every = CURSOR_EVERY

    def __init__(self, ctx: RuntimeContext, spec: Spec) -> None:
        super().__init__(ctx, spec)
        self._filter = TagFilter(spec.tags)
        self._counts = self.health.counts
        self.profiles = ProfileDirectory(
            ctx.http,
            ctx.settings.bluesky_api_url,
            max_bytes=ctx.settings.http_max_bytes,
            sessionmaker=ctx.sessionmaker,
        )
        self.stored = StoredPosts(ctx.sessionmaker)
        self._host = 0
        #: The newest ``time_us`` received since the (re)start.
        self._max_seen: int | None = None
        #: Where to resume when nothing was received yet: the stored cursor, or the
        #: position before a failed write.
        self._floor: int | None = None
        #: The cursor as last saved.
        self._written: int | None = None
        self._seq = 0
        #: Ops not committed yet: sequence number → time_us.
        self._pending: dict[int, int] = {}
        #: The last op of each at-URI with ops under way; the next one waits for it.
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._failed: BaseException | None = None
        self._running = False
        self._backfills = Backfills(ctx, self.sink, self.profiles, self.stored)

    def configure(self, spec: Spec) -> None:
        backfill_changed = spec.options.get("backfill") != self.spec.options.get("backfill")
        super().configure(spec)
        self._filter = TagFilter(spec.tags)  # read per event by the receive loop
        if backfill_changed and self._running:
            self._backfills.start(spec)

    @property
    def in_flight(self) -> int:
        """Kept events not committed yet."""
        return len(self._pending)

    async def run(self) -> None:
        self._pending.clear()
        self._failed = None
        self._max_seen = None
        await self.stored.load()
        stored = await self.ctx.cursors.get(CURSOR_KEY)
        self._written = self._floor = int(stored) if stored and stored.isdigit() else None
        cursor_loop = asyncio.create_task(self._cursor_loop(), name="bluesky-cursor")
        self._running = True
        self._backfills.start(self.spec)
        try:
            await self._stream()
        except asyncio.CancelledError:
            self.health.ok(ConnectorStatus.STOPPED)
            raise
        finally:
            self._running = False
            cursor_loop.cancel()
            await asyncio.gather(cursor_loop, self._backfills.stop(), return_exceptions=True)
            await self._finish()

    # -- the connection ------------------------------------------------------------

    async def _stream(self) -> None:
        urls = self.ctx.settings.bluesky_jetstream_urls
        if not urls:
            raise RuntimeError("no Jetstream URL configured (BACKCHANNEL_BLUESKY_JETSTREAM_URLS)")
        failures = 0
        while True:
            url = urls[self._host % len(urls)]
            before = self._counts["received"]
            try:
                await self._session(url)
                problem = f"{url} closed the connection"
            except _CONNECTION_ERRORS as exc:
                problem = f"{url}: {type(exc).__name__}: {exc}"
            except WriteFailed as exc:
                problem = str(exc)
            self.health.error(problem)
            log.warning("Jetstream: %s", problem)
            if self._failed is not None:
                await self._recover()
            # Rotate: the next host has the same stream (cursors are times), and this
            # one may be the problem. Back off only while attempts get nowhere.
            self._host += 1
            failures = 0 if self._counts["received"] > before else failures + 1
            delay = min(self.retry_cap, self.retry_first * 2 ** max(0, failures - 1))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    def _subscribe_url(self, base: str) -> str:
        query = [
            ("wantedCollections", POST_COLLECTION),
            ("maxMessageSizeBytes", str(MAX_EVENT_BYTES)),
        ]
        resume = self._resume_cursor()
        if resume is not None:
            query.append(("cursor", str(resume)))
        base = base.rstrip("/")
        if not base.endswith("/subscribe"):
            base += "/subscribe"
        return f"{base}?{urlencode(query)}"

    def _resume_cursor(self) -> int | None:
        position = self._safe_cursor()
        if position is None:
            position = self._floor
        return None if position is None else max(1, position - REWIND_US)

    async def _session(self, base: str) -> None:
        settings = self.ctx.settings
        await check_url(base, allow_private=settings.http_allow_private, schemes=("ws", "wss"))
        async with connect(
            self._subscribe_url(base),
            # Only posts are asked for: that is the bandwidth saving. Inflating every
            # frame would cost CPU on the hot path.
            compression=None,
            max_size=MAX_FRAME_BYTES,
            open_timeout=15,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=2,
            user_agent_header=user_agent(settings.public_url()),
        ) as ws:
            self.health.ok(ConnectorStatus.CONNECTED)
            log.info("Jetstream: connected to %s", base)
            recv, handle, dispatch = ws.recv, self._handle, self._dispatch
            while self._failed is None:
                op = handle(await recv(decode=False))
                if op is not None:
                    await dispatch(op)
            raise WriteFailed(f"storing a post failed: {self._failed!r}")

    # -- the hot path --------------------------------------------------------------

    def _handle(self, frame: bytes) -> _Op | None:
        """Count and classify one event; an op for what must be written."""
        counts = self._counts
        counts["received"] += 1
        if len(frame) > MAX_EVENT_BYTES:
            counts["malformed"] += 1
            return None
        try:
            event = orjson.loads(frame)
            time_us = event["time_us"]
            kind = event["kind"]
        except (orjson.JSONDecodeError, KeyError, TypeError, IndexError):
            counts["malformed"] += 1
            return None
        if type(time_us) is not int or time_us <= 0:
            counts["malformed"] += 1
            return None
        if self._max_seen is None or time_us > self._max_seen:
            self._max_seen = time_us
        if kind != "commit":
            if kind == "identity":
                counts["identity"] += 1
                self.profiles.forget(event.get("did"))  # perhaps a new handle
            elif kind == "account":
                counts["account"] += 1
            else:
                counts["dropped"] += 1
            return None
        commit = event.get("commit")
        if type(commit) is not dict:
            counts["malformed"] += 1
            return None
        if commit.get("collection") != POST_COLLECTION:
            counts["dropped"] += 1
            return None
        operation = commit.get("operation")
        if operation == "create" or operation == "update":
            record = commit.get("record")
            if type(record) is not dict:
                counts["malformed"] += 1
                return None
            if self._filter.matches(record):
                return self._op(event, commit, time_us, record, edited=operation == "update")
            if operation == "update":
                # An edit that took the tag away still applies to a post stored here.
                return self._if_stored(event, commit, time_us, record)
            counts["dropped"] += 1
            return None
        if operation == "delete":
            return self._if_stored(event, commit, time_us, None)
        counts["malformed"] += 1
        return None

    def _op(
        self,
        event: dict[str, Any],
        commit: dict[str, Any],
        time_us: int,
        record: dict[str, Any] | None,
        *,
        edited: bool = False,
        check: bool = False,
    ) -> _Op | None:
        did, rkey = event.get("did"), commit.get("rkey")
        if not valid_did(did) or not valid_rkey(rkey):
            self._counts["malformed"] += 1
            return None
        if not check:
            self._counts["kept"] += 1
        return _Op(at_uri(did, rkey), did, rkey, time_us, record, edited, check)

    def _if_stored(
        self,
        event: dict[str, Any],
        commit: dict[str, Any],
        time_us: int,
        record: dict[str, Any] | None,
    ) -> _Op | None:
        did, rkey = event.get("did"), commit.get("rkey")
        if type(did) is str and type(rkey) is str:
            uri = at_uri(did, rkey)
            # Stored, or on its way: a delete right after the create must not be lost.
            if uri in self.stored or uri in self._tails:
                return self._op(event, commit, time_us, record, edited=True)
            if self.stored.may_hold(did):
                return self._op(event, commit, time_us, record, edited=True, check=True)
        self._counts["dropped"] += 1
        return None

    # -- kept events ---------------------------------------------------------------

    async def _dispatch(self, op: _Op) -> None:
        await self._slots.acquire()  # backpressure: the receive loop waits here
        self._seq += 1
        seq = self._seq
        self._pending[seq] = op.time_us
        task = asyncio.create_task(self._apply(seq, op, self._tails.get(op.uri)))
        self._tails[op.uri] = task
        task.add_done_callback(partial(self._untail, op.uri))

    def _untail(self, uri: str, task: asyncio.Task[None]) -> None:
        if self._tails.get(uri) is task:
            del self._tails[uri]

    async def _apply(self, seq: int, op: _Op, previous: asyncio.Task[None] | None) -> None:
        try:
            if previous is not None:
                await asyncio.wait([previous])  # this post's earlier ops come first
            if self._failed is not None:
                return  # stays pending: it is replayed after the reconnect
            await self._write(op)
            del self._pending[seq]
        except Exception as exc:
            log.exception("Jetstream: storing %s failed", op.uri)
            if self._failed is None:
                self._failed = exc
        finally:
            self._slots.release()

    async def _write(self, op: _Op) -> None:
        counts = self._counts
        if op.check:
            if not await self.stored.holds(op.uri):
                counts["dropped"] += 1
                return
            counts["kept"] += 1
        if op.record is None:
            await self.sink.delete(op.uri)
            self.stored.discard(op.uri)
            return
        seen_at = from_timestamp_us(op.time_us)
        try:
            data = post_in(op.did, op.rkey, op.record, seen_at=seen_at, edited=op.edited)
        except ValidationError as exc:
            counts["refused"] += 1
            log.info("Jetstream: post %s refused: %s", op.uri, exc.errors()[:3])
            return
        data.author = await self.profiles.author(op.did)
        result = await self.sink.post(data)
        if result is not None and result.outcome in ("created", "updated", "unchanged"):
            self.stored.add(op.uri)

    async def _recover(self) -> None:
        """After a failed write: let the other writes end; resume before the failure."""
        tails = list(self._tails.values())
        if tails:
            await asyncio.wait(tails)
        position = self._safe_cursor()  # the failed ops are still pending
        self._floor = self._floor if position is None else position
        self._pending.clear()
        self._max_seen = None
        self._failed = None

    # -- the cursor ----------------------------------------------------------------

    def _safe_cursor(self) -> int | None:
        """The newest ``time_us`` before which every kept event is committed."""
        if self._pending:
            return min(self._pending.values())
        return self._max_seen

    async def _save_cursor(self) -> None:
        position = self._safe_cursor()
        if self._max_seen is not None:
            self.health.seen(from_timestamp_us(self._max_seen))
        if position is None or position == self._written:
            return
        await self.ctx.cursors.set(CURSOR_KEY, str(position))
        self._written = position

    async def _cursor_loop(self) -> None:
        """Save the cursor about once a second; also bring authors stored while the
        profile API was away up to date once it answers again."""
        while True:
            await asyncio.sleep(self.cursor_every)
            try:
                await self._save_cursor()
                for author in await self.profiles.resolved():
                    await self.ctx.writer.submit(partial(_update_author, author))
            except Exception as exc:  # the database is away; the next round retries
                log.warning("Jetstream: cursor or author update failed: %s", exc)

    async def _finish(self) -> None:
        """On stop: let the writes under way commit, then save the cursor."""
        tails = list(self._tails.values())
        if tails:
            _, late = await asyncio.wait(tails, timeout=DRAIN_SECONDS)
            for task in late:
                task.cancel()  # not committed: they stay before the cursor
        try:
            if self._failed is None:
                await self._save_cursor()
        except Exception as exc:
            log.warning("Jetstream: saving the cursor failed: %s", exc)
        await self.profiles.aclose()
