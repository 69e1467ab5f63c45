"""Bearer tokens looked up in batches when many requests wait for it at once.

Every request's token is still looked up (nothing is cached: a revoked token, or a
suspended account, stops working with the next request). But a busy process has many
requests waiting for that lookup at the same moment, and a session and a query each
cost more than the rest of a small request: the requests that arrive while one lookup
runs share the next one, a single ``WHERE token_hash IN (…)`` that starts after each
of them arrived.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.people import repository
from backchannel.people.models import Account
from backchannel.people.service import token_hash

#: As ``people.service.token_owner``: longer input is no token we issued.
_MAX_TOKEN = 512


class TokenLookups:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._waiting: dict[str, list[asyncio.Future[Account | None]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def owner(self, token: str) -> Account | None:
        """Whose bearer token this is, suspended or not (``people.service.token_owner``)."""
        if not token or len(token) > _MAX_TOKEN:
            return None
        future: asyncio.Future[Account | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(token_hash(token), []).append(future)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="token-lookups")
        return await future

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, {}
                await self._look_up(batch)
        finally:
            self._task = None

    async def _look_up(self, batch: dict[str, list[asyncio.Future[Account | None]]]) -> None:
        try:
            async with self._sessionmaker() as session:
                found = await repository.accounts_for_token_hashes(session, list(batch))
        except Exception as exc:  # noqa: BLE001 - handed to every request that waits for it
            for futures in batch.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            return
        for hashed, futures in batch.items():
            for future in futures:
                if not future.done():  # a request may have gone away meanwhile
                    future.set_result(found.get(hashed))
