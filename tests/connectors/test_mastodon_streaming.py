"""The Mastodon connector with a user token: live hashtag streams (SSE) from a fake
Mastodon server, edits and deletes, reconnects that catch up, and the fallback to
polling when a stream is refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.connectors.mastodon import MastodonRuntime
from backchannel.connectors.models import ConnectorStatus
from backchannel.posts.models import Post
from support_connectors import count_posts, eventually, make_event, runtime_context
from support_fediverse import (
    APP_TOKEN,
    USER_TOKEN,
    FakeMastodon,
    running,
    sample,
    serve_fake,
    spec_for,
)

Sessions = async_sessionmaker[AsyncSession]
STREAM = "/api/v1/streaming/hashtag"
TIMELINE = "/api/v1/timelines/tag/"


@pytest.fixture(scope="module")
async def fake() -> AsyncIterator[FakeMastodon]:
    async with serve_fake() as server:
        yield server


@pytest.fixture
def server(fake: FakeMastodon) -> FakeMastodon:
    fake.reset()
    # Mastodon 4.5 with sign-in-only tag timelines: the catch-up must send the token.
    fake.tag_timelines = "authenticated"
    return fake


async def stored(sessionmaker: Sessions, uri: str) -> Post | None:
    async with sessionmaker() as session:
        found: Post | None = await session.scalar(select(Post).where(Post.source_uri == uri))
        return found


def counter(sessionmaker: Sessions, expected: int) -> Any:
    async def check() -> bool:
        return await count_posts(sessionmaker) == expected

    return check


def connected(runtime: MastodonRuntime, server: FakeMastodon, tag: str = "fedicamp") -> Any:
    return lambda: (
        runtime.health.status == ConnectorStatus.CONNECTED and server.open_streams(tag) == 1
    )


async def test_live_posts_edits_and_deletes(
    server: FakeMastodon, sessionmaker: Sessions, tmp_path: Path
) -> None:
    async with runtime_context(sessionmaker, tmp_path) as ctx:
        await make_event(ctx.writer, "fedicamp")
        runtime = MastodonRuntime(ctx, spec_for(server, token=USER_TOKEN))
        async with running(runtime):
            await eventually(connected(runtime, server), what="a live stream")
            status = server.post("Talk starts in five minutes")

            async def has(text: str) -> bool:
                post = await stored(sessionmaker, status["uri"])
                return post is not None and text in post.content_text

            await eventually(lambda: has("five minutes"), what="the live post")
            server.edit(status["id"], "Talk starts in ten minutes")
            await eventually(lambda: has("ten minutes"), what="the edit")
            edited = await stored(sessionmaker, status["uri"])
            assert edited is not None and edited.edited_at is not None
            server.delete(status["id"])
            await eventually(counter(sessionmaker, 0), what="the post deleted")

    counts = runtime.health.counts
    assert counts["created"] == 1 and counts["updated"] == 1 and counts["deleted"] == 1
    assert counts["kept"] == 2
    # Only the stream brought it: the one catch-up at connect found nothing.
    assert [r.params.get("min_id") for r in server.logged(TIMELINE)] == [None]
    assert all(r.token == USER_TOKEN for r in server.logged(TIMELINE))


async def test_a_delete_after_a_restart_still_takes_the_post_down(
    server: FakeMastodon, sessionmaker: Sessions, tmp_path: Path
) -> None:
    async with runtime_context(sessionmaker, tmp_path) as ctx:
        await make_event(ctx.writer, "fedicamp")
        first = MastodonRuntime(ctx, spec_for(server, token=USER_TOKEN))
        async with running(first):
            await eventually(connected(first, server), what="a live stream")
            status = server.post("Slides are up")
            await eventually(counter(sessionmaker, 1), what="the live post")
        # A new runtime (a restart: nothing in memory) hears of the delete.
        second = MastodonRuntime(ctx, spec_for(server, token=USER_TOKEN))
        async with running(second):
            await eventually(connected(second, server), what="the stream again")
            server.delete(status["id"])
            await eventually(counter(sessionmaker, 0), what="the post deleted")
    assert second.health.counts["deleted"] == 1
    assert second.health.counts["delete_unknown"] == 0


async def test_a_dropped_stream_reconnects_and_catches_up_without_gap_or_duplicate(
    server: FakeMastodon, sessionmaker: Sessions, tmp_path: Path
) -> None:
    async with runtime_context(sessionmaker, tmp_path) as ctx:
        runtime = MastodonRuntime(ctx, spec_for(server, token=USER_TOKEN))
        async with running(runtime):
            await eventually(connected(runtime, server), what="a live stream")
            before = server.post("before the drop")
            await eventually(counter(sessionmaker, 1), what="the first post")
            key = runtime.cursor_key("fedicamp")

            async def cursor_at(status_id: str) -> bool:
                return await ctx.cursors.get(key) == status_id

            await eventually(lambda: cursor_at(before["id"]), what="the cursor moved")

            dropped_at = time.monotonic()
            server.drop_streams()
            # Posted while no stream is open: only the catch-up can bring these.
            meanwhile = [server.post(f"while disconnected {n}") for n in range(3)]
            await eventually(counter(sessionmaker, 4), what="the catch-up")
            await eventually(connected(runtime, server), what="the stream back")
            after = server.post("after the reconnect")
            await eventually(counter(sessionmaker, 5), what="the post after")
            await eventually(lambda: cursor_at(after["id"]), what="the cursor at the newest")

    catch_ups = [r for r in server.logged(TIMELINE) if r.at > dropped_at]
    assert [r.params.get("min_id") for r in catch_ups] == [before["id"]]
    assert len(server.logged(STREAM)) == 2
    async with sessionmaker() as session:
        uris = set(await session.scalars(select(Post.source_uri)))
    assert uris == {s["uri"] for s in [before, *meanwhile, after]}
    # Each status came once: nothing fetched twice, nothing stored twice.
    assert runtime.health.counts["received"] == 5
    assert runtime.health.counts["created"] == 5


async def test_a_refused_stream_falls_back_to_polling(
    server: FakeMastodon, sessionmaker: Sessions, tmp_path: Path
) -> None:
    server.stream_refusal = 401  # a server whose streaming does not take this token
    server.post("polled, not streamed")
    async with runtime_context(sessionmaker, tmp_path) as ctx:
        runtime = MastodonRuntime(ctx, spec_for(server, token=USER_TOKEN, poll_seconds=0.05))
        async with running(runtime):
            await eventually(counter(sessionmaker, 1), what="the polled post")
            await eventually(lambda: runtime.health.status == ConnectorStatus.POLLING)
            server.post("polled too")
            await eventually(counter(sessionmaker, 2), what="the next polled post")

    assert "refused the hashtag stream (HTTP 401" in runtime.health.last_error
    assert "polling #fedicamp instead" in runtime.health.last_error
    # The stream is asked again in minutes, not on every poll.
    assert len(server.logged(STREAM)) == 1


async def test_a_bad_token_reads_anonymously_where_the_server_allows(
    server: FakeMastodon, sessionmaker: Sessions, tmp_path: Path
) -> None:
    server.tag_timelines = "public"
    server.post("public timeline")
    async with runtime_context(sessionmaker, tmp_path) as ctx:
        runtime = MastodonRuntime(ctx, spec_for(server, token="revoked", poll_seconds=0.05))
        async with running(runtime):
            await eventually(counter(sessionmaker, 1), what="the post, read anonymously")
            await eventually(lambda: runtime.health.status == ConnectorStatus.POLLING)

    assert "refused the access token" in runtime.health.last_error
    assert [r.token for r in server.logged(TIMELINE)][:2] == ["revoked", None]


async def test_a_bad_token_on_a_sign_in_only_server_asks_for_a_new_one(
    server: FakeMastodon, sessionmaker: Sessions, tmp_path: Path
) -> None:
    async with runtime_context(sessionmaker, tmp_path) as ctx:
        runtime = MastodonRuntime(ctx, spec_for(server, token="revoked", poll_seconds=0.01))
        async with running(runtime):
            await eventually(lambda: runtime.health.status == ConnectorStatus.UNAUTHORIZED)

    error = runtime.health.last_error
    assert "refused the access token and requires sign-in for tag timelines" in error
    assert "replace the token" in error
    assert [r.status for r in server.logged(TIMELINE)] == [401, 422]


async def test_an_app_token_is_not_enough_for_a_sign_in_only_server(
    server: FakeMastodon, sessionmaker: Sessions, tmp_path: Path
) -> None:
    async with runtime_context(sessionmaker, tmp_path) as ctx:
        runtime = MastodonRuntime(ctx, spec_for(server, token=APP_TOKEN, poll_seconds=0.01))
        async with running(runtime):
            await eventually(lambda: runtime.health.status == ConnectorStatus.UNAUTHORIZED)
            # It would poll every 10 ms; a refusal is asked again in minutes.
            await asyncio.sleep(0.3)

    error = runtime.health.last_error
    assert "does not let this access token read tag timelines (HTTP 422" in error
    assert "user account with read:statuses scope" in error
    assert len(server.logged(TIMELINE)) == 1


async def test_configure_adds_and_removes_tags_without_touching_other_streams(
    server: FakeMastodon, sessionmaker: Sessions, tmp_path: Path
) -> None:
    async with runtime_context(sessionmaker, tmp_path) as ctx:
        runtime = MastodonRuntime(ctx, spec_for(server, token=USER_TOKEN))
        async with running(runtime):
            await eventually(connected(runtime, server), what="the first stream")
            runtime.configure(spec_for(server, ["fedicamp", "workshop"], token=USER_TOKEN))
            await eventually(connected(runtime, server, "workshop"), what="the second stream")
            server.post("hands-on", tags=["workshop"])
            await eventually(counter(sessionmaker, 1), what="a post of the new tag")
            assert server.open_streams("fedicamp") == 1
            runtime.configure(spec_for(server, ["workshop"], token=USER_TOKEN))
            await eventually(lambda: server.open_streams("fedicamp") == 0, what="a closed stream")

    opened = [r.params["tag"] for r in server.logged(STREAM)]
    assert opened == ["fedicamp", "workshop"]


async def test_odd_stream_frames_are_counted_and_skipped(
    server: FakeMastodon, sessionmaker: Sessions, tmp_path: Path
) -> None:
    async with runtime_context(sessionmaker, tmp_path) as ctx:
        runtime = MastodonRuntime(ctx, spec_for(server, token=USER_TOKEN))
        async with running(runtime):
            await eventually(connected(runtime, server), what="a live stream")
            server.push("fedicamp", "update", "{not json")
            server.push("fedicamp", "update", orjson.dumps({"id": "5"}).decode())
            server.push("fedicamp", "update", orjson.dumps(sample("status_reblog.json")).decode())
            server.push("fedicamp", "delete", "123456")  # stored by no one here
            server.push("fedicamp", "filters_changed", "undefined")
            server.post("still listening")
            await eventually(counter(sessionmaker, 1), what="the good post")

    counts = runtime.health.counts
    assert counts["malformed"] == 2
    assert counts["dropped"] == 1  # the boost
    assert counts["delete_unknown"] == 1
    assert runtime.health.status == ConnectorStatus.CONNECTED
