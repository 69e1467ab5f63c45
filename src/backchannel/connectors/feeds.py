"""The feed connector: one runtime per feed URL (RSS, Atom or JSON Feed), polled with
conditional GETs.

Each poll sends the ETag and Last-Modified the feed last gave (``If-None-Match``,
``If-Modified-Since``); a 304 costs both sides almost nothing. A changed feed is
parsed (in a thread: feedparser is pure Python), its entries that count for the
events using it go through the one door (``Sink``), and only once they are committed
does the cursor ``feed:URL`` take the new validators. Failures are reported in
``health`` and retried later, longer after each one; a feed that answers 410 Gone is
not polled again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import httpx
import orjson

from backchannel.connectors.base import Runtime, RuntimeContext, Spec
from backchannel.connectors.feed_entries import FeedParseError, parse_feed
from backchannel.connectors.feed_posts import FeedPosts, Selection, select_posts
from backchannel.connectors.models import ConnectorStatus
from backchannel.kit.clock import utcnow
from backchannel.kit.http import Fetched, TooLarge, UnsafeURL, fetch

__all__ = ["FeedRuntime", "FeedValidators", "feed_cursor_key"]

log = logging.getLogger(__name__)

#: The longest wait between two polls of a failing feed.
MAX_BACKOFF_SECONDS = 6 * 3600.0
#: Polls are spread by this fraction either way, so feeds added together do not
#: stay in step (and the writer gets their posts in a trickle, not a burst).
JITTER = 0.1
#: The most a runtime waits before its first poll.
START_SPREAD_SECONDS = 10.0
#: Statuses that say "ask again later" (with ``Retry-After``, if any).
_BUSY = frozenset({HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE})
_NEEDS_SIGN_IN = frozenset({HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN})


def feed_cursor_key(url: str) -> str:
    return f"feed:{url}"


@dataclass(frozen=True)
class FeedValidators:
    """What the cursor keeps: the feed's validators; a digest of the last body, for
    servers that send neither (an unchanged body is then not re-ingested); and which
    selection (tags, events, since) the entries were chosen by -- when that changes,
    entries passed over before may count now, so the whole feed is asked for again."""

    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None
    selection: str | None = None

    def request_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers

    def dumps(self) -> str:
        data = {
            "etag": self.etag,
            "last_modified": self.last_modified,
            "sha256": self.sha256,
            "selection": self.selection,
        }
        return orjson.dumps({k: v for k, v in data.items() if v}).decode()

    @classmethod
    def loads(cls, value: str | None) -> FeedValidators:
        try:
            data = orjson.loads(value) if value else {}
        except orjson.JSONDecodeError:
            return cls()
        if not isinstance(data, dict):
            return cls()

        def text(key: str) -> str | None:
            item = data.get(key)
            return item if isinstance(item, str) and item else None

        return cls(text("etag"), text("last_modified"), text("sha256"), text("selection"))


@dataclass(frozen=True)
class _Options:
    poll_seconds: float
    selection: Selection


class _Gone(Exception):
    """The feed answered 410 Gone."""


class _PollFailed(Exception):
    """A poll that did not work; the message is for the organiser."""

    def __init__(
        self,
        message: str,
        *,
        status: ConnectorStatus = ConnectorStatus.ERROR,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class FeedRuntime(Runtime):
    """Polls ``spec.target``. Options: ``event_ids`` (events every entry counts for),
    ``poll_seconds`` (default ``feed_poll_seconds``), ``since`` (ISO datetime: older
    entries are ignored). ``run`` handles its own failures and never returns; after a
    410 it stays parked (status ``stopped``) until cancelled."""

    #: A whole fetch gets at most this long. httpx's timeouts are per read, and a
    #: server that trickles a byte at a time would otherwise hold a poll forever.
    fetch_deadline: float = 120.0

    def __init__(self, ctx: RuntimeContext, spec: Spec) -> None:
        super().__init__(ctx, spec)
        self._options = self._read_options(spec)
        self._validators: FeedValidators | None = None
        self._failures = 0
        self._retry_after: float | None = None
        self._wake = asyncio.Event()

    @property
    def url(self) -> str:
        return self.spec.target

    def configure(self, spec: Spec) -> None:
        old = self._options
        super().configure(spec)
        self._options = self._read_options(spec)
        if self._options != old:
            # New wishes take effect now, not after the rest of a long poll interval.
            self._wake.set()

    async def run(self) -> None:
        # Feeds (re)started together -- at boot, after an import of many -- start
        # spread over a few seconds rather than all at once.
        await self._sleep(random.uniform(0, min(self._options.poll_seconds, START_SPREAD_SECONDS)))
        while await self.poll():
            await self._sleep(self.next_delay())
        # Gone for good: parked rather than returned, so nothing restarts it.
        await asyncio.Event().wait()

    async def poll(self) -> bool:
        """One conditional GET and what follows; failures end up in ``health``.
        False when the feed is gone for good (410)."""
        self._retry_after = None
        try:
            await self._poll()
        except _Gone:
            return False
        except _PollFailed as exc:
            log.info("feed %s: %s", self.url, exc)
            self._failed(str(exc), exc.status, exc.retry_after)
        except Exception as exc:
            # A bug, or the database away for a moment: reported and tried again
            # later like any failure, without losing what this runtime knows.
            log.exception("feed %s: poll failed", self.url)
            self._failed(f"the poll failed: {type(exc).__name__}: {exc}")
        else:
            self._failures = 0
            self.health.ok(ConnectorStatus.POLLING)
        return True

    def _failed(
        self,
        message: str,
        status: ConnectorStatus = ConnectorStatus.ERROR,
        retry_after: float | None = None,
    ) -> None:
        self._failures += 1
        self._retry_after = retry_after
        self.health.error(message, status)

    async def _poll(self) -> None:
        if self._validators is None:
            self._validators = FeedValidators.loads(
                await self.ctx.cursors.get(feed_cursor_key(self.url))
            )
        options = self._options
        selection = _fingerprint(options.selection)
        same_selection = selection == self._validators.selection
        headers = self._validators.request_headers() if same_selection else {}
        fetched_at = utcnow()
        response = await self._fetch(headers)
        if response.status_code == HTTPStatus.NOT_MODIFIED:
            self.health.counts["not_modified"] += 1
            self.health.seen(fetched_at)
            return
        self._check_status(response.status_code, response.headers)
        self.health.counts["fetched"] += 1
        validators = FeedValidators(
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            sha256=hashlib.sha256(response.content).hexdigest(),
            selection=selection,
        )
        if same_selection and validators.sha256 == self._validators.sha256:
            # The same bytes as last time, from a server without working validators.
            self.health.counts["not_modified"] += 1
        else:
            content_type = response.headers.get("content-type", "")
            found = await self._digest(response.content, content_type, options.selection)
            await self._hand_over(found)
        self.health.seen(fetched_at)
        # Only now, with every post committed, does the cursor move.
        await self._remember(validators)

    async def _fetch(self, headers: dict[str, str]) -> Fetched:
        try:
            async with asyncio.timeout(self.fetch_deadline):
                return await fetch(
                    self.ctx.http,
                    self.url,
                    max_bytes=self.ctx.settings.http_max_bytes,
                    headers=headers,
                )
        except TooLarge:
            raise _PollFailed(
                f"the feed is larger than {self.ctx.settings.http_max_bytes} bytes"
            ) from None
        except UnsafeURL as exc:
            raise _PollFailed(f"this address may not be fetched: {exc}") from None
        except (TimeoutError, httpx.TimeoutException):
            raise _PollFailed("the feed did not answer in time") from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise _PollFailed(f"the feed could not be fetched: {reason}") from None

    def _check_status(self, code: int, headers: httpx.Headers) -> None:
        if 200 <= code < 300:
            return
        reason = _reason(code)
        if code == HTTPStatus.GONE:
            self.health.error(
                "the feed is gone for good (HTTP 410 Gone); it is no longer "
                "polled. Remove it, or add the blog's new feed address.",
                ConnectorStatus.STOPPED,
            )
            raise _Gone
        if code in _NEEDS_SIGN_IN:
            raise _PollFailed(
                f"the feed answers {code} {reason}: it is not public, or the site "
                "turns away programs like backchannel, which reads public feeds only",
                status=ConnectorStatus.UNAUTHORIZED,
            )
        if code in _BUSY:
            raise _PollFailed(
                f"the feed answers {code} {reason}; asking again later",
                retry_after=_retry_after(headers.get("retry-after")),
            )
        raise _PollFailed(f"the feed answers {code} {reason}")

    async def _digest(self, body: bytes, content_type: str, selection: Selection) -> FeedPosts:
        url = self.url

        def work() -> FeedPosts:
            doc = parse_feed(body, url=url, content_type=content_type)
            return select_posts(doc, feed_url=url, selection=selection, now=utcnow())

        try:
            found = await asyncio.to_thread(work)
        except FeedParseError as exc:
            self.health.counts["unreadable"] += 1
            raise _PollFailed(f"the feed could not be read: {exc}") from None
        counts = self.health.counts
        counts["entries"] += len(found.posts) + found.dropped + found.malformed
        counts["kept"] += len(found.posts)
        counts["dropped"] += found.dropped
        counts["malformed"] += found.malformed
        return found

    async def _hand_over(self, found: FeedPosts) -> None:
        # Concurrent submits: the writer groups them into one transaction.
        results = await asyncio.gather(
            *(self.sink.post(post) for post in found.posts), return_exceptions=True
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        for failure in failed:
            if not isinstance(failure, Exception):
                raise failure  # cancellation and friends are not ours to swallow
        if failed:
            self.health.counts["failed"] += len(failed)
            raise _PollFailed(f"posts could not be stored: {failed[0]!r}")

    async def _remember(self, validators: FeedValidators) -> None:
        if validators != self._validators:
            await self.ctx.cursors.set(feed_cursor_key(self.url), validators.dumps())
            self._validators = validators

    def next_delay(self) -> float:
        """Seconds until the next poll: the poll interval, doubled after each failure
        in a row (up to six hours), at least what a ``Retry-After`` asked for."""
        delay = self._options.poll_seconds
        if self._failures:
            ceiling = max(delay, MAX_BACKOFF_SECONDS)
            delay = min(delay * 2 ** min(self._failures - 1, 16), ceiling)
            if self._retry_after is not None:
                delay = min(max(delay, self._retry_after), ceiling)
        return delay * random.uniform(1 - JITTER, 1 + JITTER)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()

    def _read_options(self, spec: Spec) -> _Options:
        options = spec.options
        poll = options.get("poll_seconds")
        if not isinstance(poll, int | float) or isinstance(poll, bool) or poll <= 0:
            poll = self.ctx.settings.feed_poll_seconds
        event_ids = options.get("event_ids") or []
        since = options.get("since")
        return _Options(
            poll_seconds=float(poll),
            selection=Selection(
                tags=frozenset(spec.tags),
                event_ids=tuple(
                    sorted(
                        {int(e) for e in event_ids if isinstance(e, int | str) and str(e).isdigit()}
                    )
                ),
                since=self._since(since),
            ),
        )

    def _since(self, value: Any) -> datetime | None:
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            parsed = value
        else:
            try:
                parsed = datetime.fromisoformat(str(value))
            except ValueError:
                self.health.error(f"options.since is not a date: {value!r}; ignored")
                return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _fingerprint(selection: Selection) -> str:
    data = [
        sorted(selection.tags),
        list(selection.event_ids),
        selection.since.isoformat() if selection.since else None,
    ]
    return hashlib.sha256(orjson.dumps(data)).hexdigest()[:16]


def _reason(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds, given as seconds or as an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - utcnow()).total_seconds())
