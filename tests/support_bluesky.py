"""Harness for the Bluesky connector's tests: a runtime context whose HTTP client talks
to ``FakeBlueskyAPI``, a running ``BlueskyRuntime``, and readers for what it stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.connectors.base import RuntimeContext, Spec
from backchannel.connectors.bluesky import BlueskyRuntime
from backchannel.kit.http import make_client
from backchannel.moderation.models import EventPost
from backchannel.posts.models import Post, Tombstone
from support_connectors import runtime_context
from support_jetstream import FakeBlueskyAPI

API_URL = "https://public.api.bsky.test"
AUTH_URL = "https://pds.bsky.test"


def now_us() -> int:
    return int(time.time() * 1_000_000)


def did(n: int) -> str:
    return f"did:plc:{n:024d}"


def spec(*tags: str, **options: Any) -> Spec:
    return Spec(
        key="bluesky",
        kind="bluesky",
        target="",
        connector_ids=(),
        tags=frozenset(tags),
        options=options,
    )


@asynccontextmanager
async def bluesky_context(
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    api: FakeBlueskyAPI,
    urls: list[str],
    **settings: Any,
) -> AsyncIterator[RuntimeContext]:
    async with runtime_context(
        sessionmaker,
        tmp_path,
        bluesky_jetstream_urls=urls,
        bluesky_api_url=API_URL,
        bluesky_auth_url=AUTH_URL,
        **settings,
    ) as ctx:
        http = make_client(
            public_url=ctx.settings.public_url(), allow_private=True, transport=api.transport()
        )
        try:
            yield replace(ctx, http=http)
        finally:
            await http.aclose()


@asynccontextmanager
async def running(
    ctx: RuntimeContext, the_spec: Spec, runtime: BlueskyRuntime | None = None
) -> AsyncIterator[BlueskyRuntime]:
    """Run a runtime (a new one for ``the_spec`` unless given) until the block ends."""
    runtime = runtime or BlueskyRuntime(ctx, the_spec)
    runtime.retry_first = 0.05
    runtime.cursor_every = 0.1
    task = asyncio.create_task(runtime.run())
    try:
        yield runtime
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


async def stored_posts(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, Post]:
    async with sessionmaker() as session:
        posts = (await session.scalars(select(Post))).unique().all()
        return {p.source_uri: p for p in posts}


async def tombstones(sessionmaker: async_sessionmaker[AsyncSession]) -> set[str]:
    async with sessionmaker() as session:
        return set(await session.scalars(select(Tombstone.source_uri)))


async def event_states(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """Moderation state per post's source URI (posts counted for some event)."""
    async with sessionmaker() as session:
        rows = await session.execute(
            select(Post.source_uri, EventPost.state).join(EventPost, EventPost.post_id == Post.id)
        )
        return {uri: state for uri, state in rows.all()}
