"""Bluesky posts from before the connector ran: ``app.bsky.feed.searchPosts``.

Jetstream replays about a day and a half. For posts older than that (an event that
started using its tag weeks before it was set up here), an organiser gives an app
password; search needs a signed-in session (unauthenticated calls get 403). Each tag
is searched on its own — ``tag`` parameters are ANDed — newest first, page by page,
down to ``since``, and every post goes through the same door as the live ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from pydantic import ValidationError

from backchannel.connectors.base import RuntimeContext, Sink, Spec
from backchannel.connectors.bluesky_profiles import (
    ProfileDirectory,
    author_from_profile,
    profile_from_json,
)
from backchannel.connectors.bluesky_store import StoredPosts
from backchannel.connectors.jetstream import (
    POST_COLLECTION,
    parse_time,
    post_in,
    valid_did,
    valid_rkey,
)
from backchannel.kit.clock import isoformat, utcnow
from backchannel.kit.http import fetch
from backchannel.posts.schemas import PostIn

log = logging.getLogger(__name__)

#: searchPosts returns at most 100 posts a page.
PAGE_SIZE = 100
#: Pages per tag at most: a tag that busy is better served by Jetstream's replay.
MAX_PAGES = 50


class BackfillError(Exception):
    """Sign-in or search failed; the message says what to check."""


def backfill_key(identifier: str, since: str, tags: Iterable[str]) -> str:
    """The cursor key that remembers a finished backfill (per account, start, tags)."""
    digest = hashlib.sha256("\n".join([identifier, since, *sorted(tags)]).encode()).hexdigest()[:16]
    return f"bluesky:backfill:{identifier[:200]}:{digest}"


async def _sign_in(ctx: RuntimeContext, identifier: str, app_password: str) -> str:
    url = ctx.settings.bluesky_auth_url.rstrip("/") + "/xrpc/com.atproto.server.createSession"
    answer = await fetch(
        ctx.http,
        url,
        json={"identifier": identifier, "password": app_password},
        max_bytes=ctx.settings.http_max_bytes,
    )
    status, body = answer.status_code, answer.content
    if status != 200:
        raise BackfillError(
            f"signing in as {identifier} failed ({status}): check the handle and app password"
        )
    try:
        token = orjson.loads(body).get("accessJwt")
    except (orjson.JSONDecodeError, AttributeError):
        token = None
    if type(token) is not str or not token:
        raise BackfillError(f"signing in as {identifier} gave no session token")
    return token


def _since_param(since: datetime | str) -> str:
    if isinstance(since, datetime):
        return isoformat(since if since.tzinfo else since.replace(tzinfo=UTC)) or ""
    parsed = parse_time(since)
    if parsed is None:
        raise BackfillError(f"not an ISO date or time: {since!r}")
    return isoformat(parsed) or ""


def _post_from_view(view: Any, profiles: ProfileDirectory | None) -> PostIn | None:
    """A ``PostView`` as ``PostIn`` (None for what is not a usable post)."""
    if type(view) is not dict:
        return None
    uri, record = view.get("uri"), view.get("record")
    parts = uri[5:].split("/") if type(uri) is str and uri.startswith("at://") else []
    if len(parts) != 3 or parts[1] != POST_COLLECTION or type(record) is not dict:
        return None
    did, _, rkey = parts
    profile = profile_from_json(view.get("author"))
    if not valid_did(did) or not valid_rkey(rkey) or profile is None or profile.did != did:
        return None
    if profiles is not None:
        profiles.remember(profile)
    seen_at = parse_time(view.get("indexedAt")) or utcnow()
    return post_in(did, rkey, record, seen_at=seen_at, author=author_from_profile(profile))


async def backfill(
    ctx: RuntimeContext,
    sink: Sink,
    *,
    identifier: str,
    app_password: str,
    tags: Iterable[str],
    since: datetime | str,
    profiles: ProfileDirectory | None = None,
    stored: StoredPosts | None = None,
) -> int:
    """Ingest the posts carrying any of ``tags`` since ``since``; returns how many
    were new here. ``stored`` (the live runtime's) skips posts it already has, so
    an older search result never overwrites a live edit."""
    token = await _sign_in(ctx, identifier, app_password)
    endpoint = ctx.settings.bluesky_auth_url.rstrip("/") + "/xrpc/app.bsky.feed.searchPosts"
    headers = {"Authorization": f"Bearer {token}"}
    since_param = _since_param(since)
    created = 0
    for tag in sorted(set(tags)):
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            params = [
                ("q", f"#{tag}"),
                ("tag", tag),
                ("sort", "latest"),
                ("since", since_param),
                ("limit", str(PAGE_SIZE)),
            ]
            if cursor:
                params.append(("cursor", cursor))
            url = str(httpx.URL(endpoint, params=params))
            response = await fetch(
                ctx.http, url, max_bytes=ctx.settings.http_max_bytes, headers=headers
            )
            if response.status_code != 200:
                raise BackfillError(f"searching #{tag} failed ({response.status_code})")
            try:
                page = orjson.loads(response.content)
            except orjson.JSONDecodeError as exc:
                raise BackfillError(f"searching #{tag} answered no JSON") from exc
            views = page.get("posts") if type(page) is dict else None
            if type(views) is not list or not views:
                break
            batch: list[PostIn] = []
            for view in views:
                try:
                    data = _post_from_view(view, profiles)
                except ValidationError as exc:
                    sink.health.counts["refused"] += 1
                    log.info("backfilled post refused: %s", exc)
                    continue
                if data is not None and (stored is None or data.source_uri not in stored):
                    batch.append(data)
            # One page at a time, its posts together: the writer commits them as a group.
            results = await asyncio.gather(*(sink.post(data) for data in batch))
            for data, result in zip(batch, results, strict=True):
                if result is not None and result.outcome in ("created", "updated", "unchanged"):
                    if stored is not None:
                        stored.add(data.source_uri)
                    created += result.outcome == "created"
            next_cursor = page.get("cursor")
            if type(next_cursor) is not str or not next_cursor or next_cursor == cursor:
                break
            cursor = next_cursor
    return created


class Backfills:
    """A runtime's backfills (``spec.options["backfill"]``: identifier, app_password,
    since, and the tags of that entry's event), each run once: a cursor key remembers
    it is done. They run in a task beside the live stream; a failure is recorded in
    the runtime's health and leaves the stream alone."""

    def __init__(
        self, ctx: RuntimeContext, sink: Sink, profiles: ProfileDirectory, stored: StoredPosts
    ) -> None:
        self._ctx = ctx
        self._sink = sink
        self._profiles = profiles
        self._stored = stored
        self._spec: Spec | None = None
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def start(self, spec: Spec) -> None:
        """Run the entries of ``spec`` not done yet (after the current run, if any)."""
        self._spec = spec
        if self._task is not None and not self._task.done():
            self._again = True
        elif spec.options.get("backfill"):
            self._task = asyncio.create_task(self._run(), name="bluesky-backfill")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        health = self._sink.health
        again = True
        while again and self._spec is not None:
            self._again = False
            try:
                await self._entries(self._spec)
            except Exception as exc:  # the database, most likely; retried on the next start
                health.error(f"Bluesky backfill: {exc}", health.status)
            again = self._again

    async def _entries(self, spec: Spec) -> None:
        health = self._sink.health
        entries = spec.options.get("backfill")
        for entry in entries if isinstance(entries, list) else []:
            identifier = entry.get("identifier") if isinstance(entry, dict) else None
            password = entry.get("app_password") if isinstance(entry, dict) else None
            since = entry.get("since") if isinstance(entry, dict) else None
            if not (
                isinstance(identifier, str) and isinstance(password, str) and isinstance(since, str)
            ):
                health.error(
                    "Bluesky backfill needs identifier, app_password and since", health.status
                )
                continue
            # The tags of the entry's own event (the supervisor's fold says which).
            listed = entry.get("tags")
            tags = spec.tags
            if isinstance(listed, list) and all(isinstance(t, str) for t in listed):
                tags = frozenset(listed)
            key = backfill_key(identifier, since, tags)
            if await self._ctx.cursors.get(key) == "done":
                continue
            try:
                created = await backfill(
                    self._ctx,
                    self._sink,
                    identifier=identifier,
                    app_password=password,
                    tags=tags,
                    since=since,
                    profiles=self._profiles,
                    stored=self._stored,
                )
            except Exception as exc:
                # The live stream is unaffected: keep its status, record the error.
                health.error(f"Bluesky backfill as {identifier}: {exc}", health.status)
                continue
            health.counts["backfilled"] += created
            await self._ctx.cursors.set(key, "done")
