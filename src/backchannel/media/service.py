"""Getting a remote image for a wall: from the disk cache, or fetched once and kept.

A cached image is served without asking the remote server, so a slow or vanished
server cannot take images off a wall that already has them. Concurrent requests for
one URL share one fetch. A failure is remembered for a short while, so a wall of
screens asking for a dead image does not hammer its server, and forgotten after that,
so the next request tries again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial

import httpx

from backchannel.errors import AppError, Forbidden
from backchannel.kit.http import TooLarge, UnsafeURL, fetch
from backchannel.media.cache import CachedImage, MediaCache
from backchannel.media.sniff import DECLARED_TYPES, declared_type, sniff

#: Seconds a whole fetch may take (connect, headers and body) before the wall gets 502.
FETCH_TIMEOUT = 8.0
#: Seconds a failed URL answers with its error without asking the remote again.
FAILURE_TTL = 30.0
#: How many failed URLs are remembered at most (the oldest are forgotten first).
MAX_FAILURES = 10_000

ACCEPT = "image/avif,image/webp,image/png,image/jpeg,image/gif;q=0.9"


class RemoteMediaError(AppError):
    """The remote image could not be had: 502, with what went wrong."""

    status = 502


def _check_image(status_code: int, content_type: str | None, data: bytes) -> None:
    if status_code != 200:
        raise RemoteMediaError(f"the remote server answered {status_code}, not the image")
    declared = declared_type(content_type)
    if declared.startswith("image/svg"):
        raise RemoteMediaError("SVG images are not proxied: they can carry script")
    if declared not in DECLARED_TYPES:
        raise RemoteMediaError(
            f"the remote server sent {declared or 'no content type'}, not a JPEG, PNG,"
            " GIF, WebP or AVIF image"
        )
    if sniff(data) is None:
        raise RemoteMediaError(
            f"the remote server said {declared}, but the content is not a JPEG, PNG,"
            " GIF, WebP or AVIF image"
        )


class MediaProxy:
    """Remote images by URL, through ``client`` (the guarded one) and ``cache``."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        cache: MediaCache,
        *,
        max_bytes: int,
        timeout: float = FETCH_TIMEOUT,
        failure_ttl: float = FAILURE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.cache = cache
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.failure_ttl = failure_ttl
        self._clock = clock
        self._inflight: dict[str, asyncio.Task[CachedImage]] = {}
        #: key -> (until, error): insertion-ordered, so the first is the oldest.
        self._failures: dict[str, tuple[float, AppError]] = {}

    async def image(self, url: str) -> CachedImage:
        """The image at ``url``; raises an ``AppError`` (502, or 403) saying why not."""
        key = MediaCache.key(url)
        cached = await self.cache.get(key)
        if cached is not None:
            return cached
        failed = self._failures.get(key)
        if failed is not None:
            until, error = failed
            if until > self._clock():
                raise type(error)(error.message)
            del self._failures[key]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._fetch(key, url), name=f"media fetch {key[:12]}")
            self._inflight[key] = task
            task.add_done_callback(partial(self._done, key))
        # Shielded: a viewer who goes away does not cancel the fetch the others wait for.
        return await asyncio.shield(task)

    def _done(self, key: str, task: asyncio.Task[CachedImage]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved: nobody may be left waiting for it

    async def _fetch(self, key: str, url: str) -> CachedImage:
        try:
            async with asyncio.timeout(self.timeout):
                got = await fetch(
                    self.client, url, max_bytes=self.max_bytes, headers={"Accept": ACCEPT}
                )
            _check_image(got.status_code, got.headers.get("content-type"), got.content)
        except (AppError, httpx.HTTPError, TimeoutError) as exc:
            error = self._explain(exc)
            self._remember(key, error)
            raise error from None
        return await self.cache.put(key, got.content)

    def _explain(self, exc: Exception) -> AppError:
        if isinstance(exc, AppError):
            return exc
        if isinstance(exc, UnsafeURL):
            return Forbidden(f"this server does not fetch that image: {exc}")
        if isinstance(exc, TooLarge):
            return RemoteMediaError(f"the image is larger than {self.max_bytes} bytes")
        if isinstance(exc, TimeoutError | httpx.TimeoutException):
            return RemoteMediaError(f"the remote server did not answer within {self.timeout:g} s")
        return RemoteMediaError(f"the remote server could not be reached ({type(exc).__name__})")

    def _remember(self, key: str, error: AppError) -> None:
        self._failures.pop(key, None)
        self._failures[key] = (self._clock() + self.failure_ttl, error)
        while len(self._failures) > MAX_FAILURES:
            del self._failures[next(iter(self._failures))]
