"""Who wrote a Bluesky post: handle, name, avatar, and whether they opted out.

Jetstream names an author only by DID. ``ProfileDirectory`` asks Bluesky's public API
(``app.bsky.actor.getProfiles``, up to 25 DIDs a call) for the authors of posts that
are kept — never for the rest of the network — and keeps the answers for hours. When
the API does not answer it backs off (no tight retry) and the post is stored anyway:
with what we stored for that author before, or with the DID as the name.

``!no-unauthenticated`` is the label a Bluesky user sets with "discourage apps from
showing my account to logged-out users": such an author is stored as opted out, and
moderation hides their posts from walls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.connectors.jetstream import WEB, valid_did
from backchannel.kit.http import fetch
from backchannel.people import repository as people_repo
from backchannel.people.models import Account
from backchannel.people.schemas import AuthorIn

log = logging.getLogger(__name__)

#: ``app.bsky.actor.getProfiles`` takes at most this many actors.
BATCH = 25
NO_UNAUTHENTICATED = "!no-unauthenticated"
#: Bluesky's placeholder for a handle that no longer verifies.
INVALID_HANDLE = "handle.invalid"
#: Profiles are kept this long (seconds); a handle or name change shows up after it.
TTL = 6 * 3600.0
#: A DID the API does not know (a deleted account) is asked again after this long.
MISSING_TTL = 600.0
#: The first pause after the API failed, doubled on each further failure up to the cap.
RETRY_FIRST = 30.0
RETRY_CAP = 900.0
#: How long a lookup waits for others to share its call.
WINDOW = 0.05
MAX_CACHED = 50_000
# Answers about the request itself (a DID the API does not accept), not about the API.
_REFUSED_BATCH = frozenset({400, 404, 410, 422})


@dataclass(frozen=True, slots=True)
class Profile:
    did: str
    handle: str | None
    display_name: str
    avatar_url: str | None
    opted_out: bool


def profile_from_json(data: Any) -> Profile | None:
    """A ``ProfileViewBasic``/``ProfileViewDetailed`` (also a post view's ``author``)."""
    if type(data) is not dict or not valid_did(data.get("did")):
        return None
    handle = data.get("handle")
    name = data.get("displayName")
    avatar = data.get("avatar")
    labels = data.get("labels")
    opted_out = type(labels) is list and any(
        type(label) is dict and label.get("val") == NO_UNAUTHENTICATED and not label.get("neg")
        for label in labels
    )
    return Profile(
        did=data["did"],
        handle=handle if type(handle) is str and handle != INVALID_HANDLE else None,
        display_name=name if type(name) is str else "",
        avatar_url=avatar if type(avatar) is str else None,
        opted_out=opted_out,
    )


def author_from_profile(profile: Profile) -> AuthorIn:
    name = profile.handle or profile.did
    return AuthorIn(
        source="bluesky",
        actor_uri=profile.did,
        acct=f"{name}@bsky.app",
        display_name=profile.display_name or name,
        avatar_url=profile.avatar_url,
        profile_url=f"{WEB}/profile/{name}",
        opted_out=profile.opted_out,
    )


def author_from_did(did: str) -> AuthorIn:
    """An author we know nothing about but the DID (the profile API is down)."""
    return AuthorIn(
        source="bluesky",
        actor_uri=did,
        acct=f"{did}@bsky.app",
        display_name=did,
        profile_url=f"{WEB}/profile/{did}",
    )


def _author_from_account(account: Account) -> AuthorIn:
    # Exactly what is stored, so storing the post changes nothing about its author:
    # an outage must not reset an opt-out or rename someone to their DID.
    return AuthorIn(
        source="bluesky",
        actor_uri=account.actor_uri,
        acct=account.acct,
        display_name=account.display_name,
        avatar_url=account.avatar_url,
        profile_url=account.profile_url,
        bot=account.bot,
        opted_out=account.opted_out,
    )


class ProfileUnavailable(Exception):
    """The profile API did not answer usefully."""


class ProfileDirectory:
    """Profiles by DID, cached, looked up in batches; see the module's docstring."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_url: str,
        *,
        max_bytes: int,
        sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self._http = http
        self._endpoint = api_url.rstrip("/") + "/xrpc/app.bsky.actor.getProfiles"
        self._max_bytes = max_bytes
        self._sessionmaker = sessionmaker
        self._cache: dict[str, tuple[float, Profile | None]] = {}
        self._waiting: dict[str, asyncio.Future[Profile | None]] = {}
        self._queue: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._down_until = 0.0
        #: The first pause after a failure (seconds); doubled while failures go on.
        self.retry_first = RETRY_FIRST
        self._retry_in: float | None = None
        #: Authors stored while the API was away, to be looked up when it is back.
        self._unresolved: set[str] = set()
        #: API calls made (for health and tests).
        self.calls = 0

    def forget(self, did: object) -> None:
        """Drop what is cached for ``did`` (its identity changed: a new handle)."""
        if type(did) is str:
            self._cache.pop(did, None)

    def remember(self, profile: Profile) -> None:
        """A profile learnt elsewhere (a search result's author)."""
        self._store(profile.did, profile, TTL)

    async def author(self, did: str) -> AuthorIn:
        """The ``AuthorIn`` for a post by ``did``, as well as we can tell now."""
        profile = await self.lookup(did)
        if profile is not None:
            try:
                return author_from_profile(profile)
            except ValidationError as exc:  # a handle AuthorIn cannot take
                log.info("profile of %s not usable: %s", did, exc)
        elif self._is_down() and len(self._unresolved) < MAX_CACHED:
            self._unresolved.add(did)
        if self._sessionmaker is not None:
            async with self._sessionmaker() as session:
                account = await people_repo.get_by_actor_uri(session, did)
            if account is not None:
                return _author_from_account(account)
        return author_from_did(did)

    async def resolved(self) -> list[AuthorIn]:
        """Authors stored while the API was away whose profiles it gives now (a batch
        at a time; call again for more)."""
        if not self._unresolved or self._is_down():
            return []
        batch = list(self._unresolved)[:BATCH]
        profiles = await asyncio.gather(*(self.lookup(did) for did in batch))
        if self._is_down():
            return []  # still away: keep them for the next time
        self._unresolved.difference_update(batch)
        authors: list[AuthorIn] = []
        for profile in profiles:
            if profile is not None:
                try:
                    authors.append(author_from_profile(profile))
                except ValidationError:
                    continue
        return authors

    def _is_down(self) -> bool:
        return time.monotonic() < self._down_until

    async def lookup(self, did: str) -> Profile | None:
        """The profile of ``did``; None if unknown or the API is unreachable."""
        now = time.monotonic()
        hit = self._cache.get(did)
        if hit is not None and hit[0] > now:
            return hit[1]
        stale = hit[1] if hit is not None else None
        if now < self._down_until:
            return stale
        future = self._waiting.get(did)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[did] = future
            self._queue.append(did)
            if len(self._queue) >= BATCH:
                self._send()
            elif self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(WINDOW, self._send)
        try:
            return await asyncio.shield(future)
        except ProfileUnavailable:
            return stale

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ProfileUnavailable("closed"))
                future.exception()  # retrieved: nobody may be waiting any more
        self._waiting.clear()
        self._queue.clear()

    def _send(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._queue:
            batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
            task = asyncio.create_task(self._resolve(batch), name="bluesky-profiles")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _resolve(self, dids: list[str]) -> None:
        try:
            found = await self._fetch(dids)
        except (ProfileUnavailable, httpx.HTTPError) as exc:
            pause = self._retry_in or self.retry_first
            self._down_until = time.monotonic() + pause
            log.warning("Bluesky profiles unavailable (retry in %.0f s): %s", pause, exc)
            self._retry_in = min(RETRY_CAP, pause * 2)
            for did in dids:
                self._settle(did, exc=ProfileUnavailable(str(exc)))
            return
        except BaseException:
            for did in dids:
                self._settle(did, exc=ProfileUnavailable("lookup cancelled"))
            raise
        self._retry_in = None
        for did in dids:
            profile = found.get(did)
            self._store(did, profile, TTL if profile is not None else MISSING_TTL)
            self._settle(did, profile)

    async def _fetch(self, dids: list[str]) -> dict[str, Profile]:
        url = str(httpx.URL(self._endpoint, params=[("actors", did) for did in dids]))
        self.calls += 1
        response = await fetch(self._http, url, max_bytes=self._max_bytes)
        if response.status_code in _REFUSED_BATCH:
            # The API refuses this batch, not every batch: treat its DIDs as unknown.
            log.info("getProfiles answered %s for %s", response.status_code, dids)
            return {}
        if response.status_code != 200:
            raise ProfileUnavailable(f"getProfiles answered {response.status_code}")
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise ProfileUnavailable(f"getProfiles answered no JSON: {exc}") from exc
        views = data.get("profiles") if type(data) is dict else None
        found: dict[str, Profile] = {}
        for view in views if type(views) is list else []:
            profile = profile_from_json(view)
            if profile is not None:
                found[profile.did] = profile
        return found

    def _settle(
        self, did: str, profile: Profile | None = None, *, exc: Exception | None = None
    ) -> None:
        future = self._waiting.pop(did, None)
        if future is None or future.done():
            return
        if exc is not None:
            future.set_exception(exc)
            future.exception()  # a waiter that was cancelled must not leave it unretrieved
        else:
            future.set_result(profile)

    def _store(self, did: str, profile: Profile | None, ttl: float) -> None:
        self._cache.pop(did, None)
        if len(self._cache) >= MAX_CACHED:
            del self._cache[next(iter(self._cache))]  # the least recently stored
        self._cache[did] = (time.monotonic() + ttl, profile)
