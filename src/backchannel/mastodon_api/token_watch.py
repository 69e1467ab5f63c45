"""Ends open Mastodon streams when their token stops working.

A request looks its token up every time, but a stream is one request that stays open
for hours. Every open stream waits here on its token's hash; one task per process
asks the database about all watched hashes at once, every few seconds. So a token
revoked, or an account suspended, by another process (``backchannel suspend``, a
second ``serve``) ends that token's streams within one check, at the cost of one
query per check however many streams are open. A revoke in this process asks at
once (``check_now``) rather than waiting for the next round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.deps import Services
from backchannel.kit.tasks import cancel_and_wait
from backchannel.people import repository as people_repo

log = logging.getLogger(__name__)

#: Hashes per statement: far below the bound-parameter limits of SQLite (32,766) and
#: asyncpg (32,767), so many thousand distinct tokens still take a few statements.
CHUNK = 10_000


class _Watched:
    """One token's hash and the streams waiting on it (several may share a token)."""

    __slots__ = ("gone", "waiters")

    def __init__(self) -> None:
        self.gone = asyncio.Event()
        self.waiters = 0


class TokenWatch:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, every: float) -> None:
        self._sessionmaker = sessionmaker
        self.every = every
        self._watched: dict[str, _Watched] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def watched(self) -> frozenset[str]:
        """The token hashes some open stream waits on."""
        return frozenset(self._watched)

    async def until_invalid(self, token_hash: str) -> None:
        """Return once the token is revoked or deleted, or its account is suspended or
        deleted. Cancel it when the stream ends: that forgets the hash."""
        entry = self._watched.get(token_hash)
        if entry is None:
            entry = self._watched[token_hash] = _Watched()
        entry.waiters += 1
        try:
            await entry.gone.wait()
        finally:
            entry.waiters -= 1
            # An ended entry is gone from the dict already (a new stream on the same
            # hash, after an unsuspension, starts a fresh one).
            if entry.waiters == 0 and self._watched.get(token_hash) is entry:
                del self._watched[token_hash]

    async def check(self) -> int:
        """Ask about every watched hash; end the streams of those no longer valid.
        Returns how many tokens ended."""
        return await self._check(list(self._watched))

    async def check_now(self, token_hash: str) -> None:
        """Ask about one token at once if a stream here waits on it (after a revoke)."""
        if token_hash in self._watched:
            await self._check([token_hash])

    async def _check(self, hashes: list[str]) -> int:
        if not hashes:
            return 0
        valid: set[str] = set()
        async with self._sessionmaker() as session:
            for start in range(0, len(hashes), CHUNK):
                chunk = hashes[start : start + CHUNK]
                found = await people_repo.accounts_for_token_hashes(session, chunk)
                valid.update(h for h, account in found.items() if account.suspended_at is None)
        return self._end(h for h in hashes if h not in valid)

    def _end(self, hashes: Iterable[str]) -> int:
        ended = 0
        for token_hash in hashes:
            entry = self._watched.pop(token_hash, None)
            if entry is not None:
                entry.gone.set()
                ended += 1
        return ended

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mastodon-token-watch")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                ended = await self.check()
            except Exception:
                # The database may be away for a moment: streams stay open until it
                # answers again, as new requests would fail meanwhile anyway.
                log.exception("could not check the tokens of open Mastodon streams")
                continue
            if ended:
                log.info("ended the streams of %d revoked or suspended tokens", ended)


def token_watch(services: Services) -> TokenWatch:
    """This process's watch (``create_app`` makes and starts it)."""
    watch: TokenWatch = services.extra["token_watch"]
    return watch
