"""Posts with an event's hashtags from one Mastodon server (or any server that speaks
Mastodon's client API).

One runtime per server, for every tag of every event that listens there. With a
user access token each tag has a live hashtag stream; without one (or while the
stream is refused) the tag timeline is polled. Each (server, tag) has a cursor, the
newest status id stored, written only after those posts are committed; a (re)connected
stream first catches up from it, so nothing posted while it was down is lost.

Why one SSE stream per tag rather than the WebSocket multiplex: SSE is plain HTTP, so
it goes through the guarded client like every other request (a WebSocket library
would bypass its address checks); and each tag then connects, fails, falls back and
catches up on its own, so adding a tag never disturbs the streams already open. An
event listens to a handful of tags: a handful of connections.

Deletes: a stream's ``delete`` names the server's own id of the status, not its uri.
Each stored status's id is kept with its post (``mastodon_ids``, in the same
transaction), and the newest ``KNOWN_STATUSES`` also in memory; so a delete after a
restart still takes the post down. A delete of a status nobody stored is counted as
``delete_unknown``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterable

import httpx
import orjson

from backchannel.connectors import mastodon_ids
from backchannel.connectors.base import Runtime, RuntimeContext, Spec
from backchannel.connectors.mastodon_client import (
    PAGE_LIMIT,
    BadAnswer,
    HashtagStream,
    MastodonClient,
    Refused,
    server_url,
)
from backchannel.connectors.mastodon_sse import SSEEvent
from backchannel.connectors.mastodon_status import (
    KnownStatuses,
    MalformedStatus,
    RemoteStatus,
    id_key,
    newest_id,
    parse_status,
    status_id_of,
)
from backchannel.connectors.models import ConnectorStatus

__all__ = ["MastodonRuntime", "server_url"]

log = logging.getLogger(__name__)

#: A refused tag timeline (sign-in required, a bad token) is asked again this often.
UNAUTHORIZED_RETRY_SECONDS = 300.0
#: A refused stream is tried again this often; its tag is polled meanwhile.
STREAM_RETRY_SECONDS = 300.0
#: Waits after a failure (network, 5xx), doubling from the first to the last.
BACKOFF_FIRST, BACKOFF_LAST = 1.0, 60.0
#: A stream that stayed up this long was healthy: the next failure backs off afresh.
STABLE_STREAM_SECONDS = 30.0
#: How many server-local ids (for deletes) are remembered.
KNOWN_STATUSES = 20_000

_WORST_FIRST = (
    ConnectorStatus.UNAUTHORIZED,
    ConnectorStatus.ERROR,
    ConnectorStatus.POLLING,
    ConnectorStatus.STARTING,
)


class Backoff:
    def __init__(self, first: float = BACKOFF_FIRST, last: float = BACKOFF_LAST) -> None:
        self.first, self.last = first, last
        self._next = first

    def next(self) -> float:
        value = self._next
        self._next = min(value * 2, self.last)
        # A little jitter, so the tags of a server that restarted do not come back at once.
        return value * random.uniform(0.8, 1.0)

    def reset(self) -> None:
        self._next = self.first


def _token(spec: Spec) -> str | None:
    token = spec.options.get("token")
    return (token.strip() or None) if isinstance(token, str) else None


class MastodonRuntime(Runtime):
    """Every tag wanted from one server (``spec.target``)."""

    unauthorized_retry_seconds = UNAUTHORIZED_RETRY_SECONDS
    stream_retry_seconds = STREAM_RETRY_SECONDS

    def __init__(self, ctx: RuntimeContext, spec: Spec) -> None:
        super().__init__(ctx, spec)
        self.server = server_url(spec.target)
        self.host = httpx.URL(self.server).netloc.decode("ascii")
        #: The domain of the server's own accounts; its instance info may name another.
        self.local_domain = self.host
        self.client = MastodonClient(
            ctx.http, self.server, max_bytes=ctx.settings.http_max_bytes, health=self.health
        )
        self.client.token = _token(spec)
        self._known = KnownStatuses(KNOWN_STATUSES)
        self._cursors: dict[str, str | None] = {}
        self._modes: dict[str, ConnectorStatus] = {}
        self._wake = asyncio.Event()
        self._restart = False
        self._discovered = False

    def configure(self, spec: Spec) -> None:
        token = _token(spec)
        if token != self.client.token:
            # Every tag starts over with the new token (a stream where there was none).
            self.client.token = token
            self._restart = True
        self.spec = spec
        self._wake.set()

    @property
    def poll_seconds(self) -> float:
        value = self.spec.options.get("poll_seconds")
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
        return self.ctx.settings.mastodon_poll_seconds

    def cursor_key(self, tag: str) -> str:
        return f"mastodon:{self.server}:{tag}"

    async def run(self) -> None:
        await self._discover()
        tasks: dict[str, asyncio.Task[None]] = {}
        try:
            while True:
                self._wake.clear()
                if self._restart:
                    self._restart = False
                    await _stop(tasks.values())
                    tasks.clear()
                for tag in tasks.keys() - self.spec.tags:
                    await _stop([tasks.pop(tag)])
                    self._modes.pop(tag, None)
                for tag in self.spec.tags - tasks.keys():
                    self._modes[tag] = ConnectorStatus.STARTING
                    tasks[tag] = asyncio.create_task(
                        self._follow(tag), name=f"mastodon {self.host} #{tag}"
                    )
                self._show()
                woken = asyncio.create_task(self._wake.wait())
                try:
                    await asyncio.wait(
                        [woken, *tasks.values()], return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    woken.cancel()
                for tag, task in list(tasks.items()):
                    if task.done():
                        # A tag's loop handles the server's failures itself; what ends
                        # it (the database failing) is for the supervisor's backoff.
                        del tasks[tag]
                        task.result()
                        raise RuntimeError(f"following #{tag} on {self.host} stopped")
        finally:
            await _stop(tasks.values())

    async def _discover(self) -> None:
        try:
            info = await self.client.server_info()
        except (httpx.HTTPError, BadAnswer) as exc:
            log.info("no instance information from %s (%s); using its host", self.server, exc)
            return
        self.local_domain = info.domain
        self.client.streaming_url = info.streaming_url
        self._discovered = True

    async def _follow(self, tag: str) -> None:
        self._cursors[tag] = await self.ctx.cursors.get(self.cursor_key(tag))
        if self.client.token:
            await self._stream(tag)
        else:
            await self._poll(tag)

    # -- polling -------------------------------------------------------------------

    async def _poll(self, tag: str, until: float | None = None) -> None:
        """Poll the tag timeline, forever or until ``until`` (monotonic)."""
        backoff = Backoff()
        anonymous = False
        while until is None or time.monotonic() < until:
            try:
                await self._catch_up(tag, anonymous=anonymous)
            except Refused as exc:
                if exc.status_code == 401 and self.client.token and not anonymous:
                    # A bad token is refused even where the timeline is public:
                    # read without it meanwhile, and say so.
                    anonymous = True
                    self._problem(tag, self._token_refused(exc), ConnectorStatus.ERROR)
                    continue
                self._problem(
                    tag, self._timeline_refused(exc, anonymous), ConnectorStatus.UNAUTHORIZED
                )
                delay = self.unauthorized_retry_seconds
            except (httpx.HTTPError, BadAnswer) as exc:
                self._problem(tag, f"polling #{tag} on {self.host} failed: {exc}")
                delay = backoff.next()
            else:
                self._mode(tag, ConnectorStatus.POLLING)
                backoff.reset()
                delay = self.poll_seconds
            if until is not None:
                delay = min(delay, until - time.monotonic())
            await asyncio.sleep(max(delay, 0.0))

    async def _catch_up(self, tag: str, *, anonymous: bool = False) -> set[str]:
        """Page the tag timeline forward from the cursor until caught up; the ids seen.
        Without a cursor only the newest page is taken (no digging through history)."""
        seen: set[str] = set()
        while True:
            cursor = self._cursors.get(tag)
            page = await self.client.tag_page(tag, cursor, anonymous=anonymous)
            ids = await self._take(page)
            seen.update(ids)
            newest = newest_id(ids)
            if newest is None or (cursor is not None and id_key(newest) <= id_key(cursor)):
                return seen
            await self._advance(tag, newest)
            if cursor is None or len(page) < PAGE_LIMIT:
                return seen

    async def _take(self, page: list[object]) -> list[str]:
        """Store a page's statuses (concurrently: the writer groups them into one
        commit); returns every id on it, the malformed ones' too, so the cursor moves
        past those instead of fetching them again."""
        statuses: list[RemoteStatus] = []
        ids: list[str] = []
        for raw in page:
            self.health.counts["received"] += 1
            status_id = status_id_of(raw)
            if status_id is not None:
                ids.append(status_id)
            try:
                statuses.append(self._parse(raw))
            except MalformedStatus as exc:
                self._malformed(exc)
        await asyncio.gather(*(self._store(status) for status in statuses))
        return ids

    # -- streaming -----------------------------------------------------------------

    async def _stream(self, tag: str) -> None:
        backoff = Backoff()
        while True:
            started = time.monotonic()
            try:
                await self._stream_once(tag)
            except Refused as exc:
                self._problem(tag, self._stream_refused(tag, exc), ConnectorStatus.POLLING)
                await self._poll(tag, until=time.monotonic() + self.stream_retry_seconds)
                continue
            except (httpx.HTTPError, BadAnswer) as exc:
                self._problem(tag, f"the stream of #{tag} on {self.host} failed: {exc}")
                # Poll while waiting to reconnect: a streaming server that stays down
                # must not stop the posts.
                await self._poll(tag, until=time.monotonic() + backoff.next())
                continue
            # The server ended the stream (servers restart; proxies cut long requests).
            if time.monotonic() - started >= STABLE_STREAM_SECONDS:
                backoff.reset()
            await asyncio.sleep(backoff.next())

    async def _stream_once(self, tag: str) -> None:
        if not self._discovered:
            # Without it the stream may be asked of the wrong host (a redirect there
            # would lose the token): ask again before each attempt until it answers.
            await self._discover()
        async with self.client.hashtag_stream(tag) as stream:
            # Connected: what is posted from now on comes down the stream (held in the
            # socket meanwhile), and the catch-up covers what came before.
            caught_up = await self._catch_up(tag)
            self._mode(tag, ConnectorStatus.CONNECTED)
            dropped = 0
            async for event in stream.events():
                await self._on_event(tag, event, caught_up)
                dropped = self._count_dropped(stream, dropped)
            self._count_dropped(stream, dropped)

    def _count_dropped(self, stream: HashtagStream, before: int) -> int:
        now = stream.decoder.dropped
        if now > before:
            self.health.counts["malformed"] += now - before
        return now

    async def _on_event(self, tag: str, event: SSEEvent, caught_up: set[str]) -> None:
        if event.event in ("update", "status.update"):
            self.health.counts["received"] += 1
            try:
                status = self._parse(orjson.loads(event.data))
            except (orjson.JSONDecodeError, MalformedStatus) as exc:
                self._malformed(exc)
                return
            if event.event == "update" and status.id in caught_up:
                # Posted while we caught up: stored already (an edit since then comes
                # as its own status.update).
                caught_up.discard(status.id)
                return
            await self._store(status)
            await self._advance(tag, status.id)
        elif event.event == "delete":
            status_id = event.data.strip()
            uri = self._known.forget(status_id)
            if uri is None:
                uri = await mastodon_ids.uri_of(self.ctx.sessionmaker, self.server, status_id)
            if uri is None:
                self.health.counts["delete_unknown"] += 1
                return
            await self.sink.delete(uri)
        # notification, filters_changed, announcement…: not on a hashtag stream.

    # -- storing -------------------------------------------------------------------

    def _parse(self, raw: object) -> RemoteStatus:
        return parse_status(raw, server=self.server, local_domain=self.local_domain)

    async def _store(self, status: RemoteStatus) -> None:
        if status.post is None:
            self.health.counts["dropped"] += 1  # a boost: its status comes on its own
            return
        result = await self.sink.post(
            status.post, then=mastodon_ids.remember(self.server, status.id)
        )
        self.health.seen(status.post.edited_at or status.created_at)
        if result is None:
            return
        if result.outcome in ("created", "updated"):
            self.health.counts["kept"] += 1
        self._known.remember(status.id, status.uri)

    async def _advance(self, tag: str, status_id: str) -> None:
        """Move the tag's cursor to ``status_id`` if it is newer (call after commit)."""
        current = self._cursors.get(tag)
        if current is not None and id_key(status_id) <= id_key(current):
            return
        await self.ctx.cursors.set(self.cursor_key(tag), status_id)
        self._cursors[tag] = status_id

    def _malformed(self, exc: Exception) -> None:
        self.health.counts["malformed"] += 1
        log.info("malformed status from %s skipped: %s", self.host, exc)

    # -- health --------------------------------------------------------------------

    def _mode(self, tag: str, status: ConnectorStatus) -> None:
        self._modes[tag] = status
        self._show()

    def _problem(
        self, tag: str, message: str, status: ConnectorStatus = ConnectorStatus.ERROR
    ) -> None:
        log.warning("%s", message)
        self.health.error(message, status)
        self._mode(tag, status)

    def _show(self) -> None:
        """The runtime's status is its worst tag's (all connected: connected)."""
        modes = {self._modes[tag] for tag in self.spec.tags if tag in self._modes}
        if not modes:
            return
        for status in _WORST_FIRST:
            if status in modes:
                self.health.ok(status)
                return
        self.health.ok(ConnectorStatus.CONNECTED)

    def _timeline_refused(self, exc: Refused, anonymous: bool) -> str:
        if not self.client.token:
            return (
                f"{self.host} requires sign-in for tag timelines ({exc}): add an access "
                "token with read:statuses scope to this connector"
            )
        if anonymous:  # the token was refused before
            return (
                f"{self.host} refused the access token and requires sign-in for tag "
                f"timelines ({exc}): replace the token with a valid one with read:statuses scope"
            )
        return (
            f"{self.host} does not let this access token read tag timelines ({exc}): use "
            "a token of a user account with read:statuses scope"
        )

    def _token_refused(self, exc: Refused) -> str:
        return (
            f"{self.host} refused the access token ({exc}): reading without it for now; "
            "replace it with a valid token with read:statuses scope"
        )

    def _stream_refused(self, tag: str, exc: Refused) -> str:
        return (
            f"{self.host} refused the hashtag stream ({exc}); polling #{tag} instead: check "
            "that the access token is valid and has read:statuses scope"
        )


async def _stop(tasks: Iterable[asyncio.Task[None]]) -> None:
    pending = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
