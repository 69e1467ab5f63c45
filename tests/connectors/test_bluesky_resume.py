"""The Bluesky connector's cursor: it moves only past committed posts, survives a cut
connection and a restart (no duplicates, no gaps), and hosts are tried in turn."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.connectors.base import RuntimeContext
from backchannel.connectors.bluesky import CURSOR_KEY, REWIND_US
from backchannel.connectors.models import ConnectorStatus
from support_bluesky import bluesky_context, did, now_us, running, spec, stored_posts
from support_connectors import eventually as until
from support_connectors import make_event
from support_jetstream import FakeBlueskyAPI, JetstreamServer, post_event

SECOND = 1_000_000


def stream(t0: int, count: int, *, every: int = 3) -> tuple[list[dict[str, object]], set[str]]:
    """``count`` posts a second apart; every ``every``-th carries #dk2026."""
    events: list[dict[str, object]] = []
    tagged: set[str] = set()
    for i in range(count):
        author, rkey = did(i % 5), f"post{i:04d}"
        if i % every == 0:
            events.append(post_event(author, rkey, f"#dk2026 {i}", time_us=t0 + i * SECOND))
            tagged.add(f"at://{author}/app.bsky.feed.post/{rkey}")
        else:
            events.append(post_event(author, rkey, f"nothing {i}", time_us=t0 + i * SECOND))
    return events, tagged


async def test_cut_connection_resumes_without_gaps_or_duplicates(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    t0 = now_us() - 60 * SECOND
    events, tagged = stream(t0, 30)
    async with JetstreamServer(events) as server:
        server.drop_after = 12  # the first connection dies after 12 events
        async with bluesky_context(sessionmaker, tmp_path, FakeBlueskyAPI(), [server.url]) as ctx:
            await make_event(ctx.writer, "dk2026")
            async with running(ctx, spec("dk2026")) as runtime:
                await until(lambda: len(server.subscriptions) == 2)
                counts = runtime.health.counts
                await until(lambda: runtime.in_flight == 0 and counts["created"] == 10)
                resumed = server.subscriptions[1].cursor or 0
                replayed = sum(1 for e in events if int(str(e["time_us"])) >= resumed)
                await until(lambda: counts["received"] == 12 + replayed)
                assert runtime.health.status == ConnectorStatus.CONNECTED
                assert runtime.health.counts["errors"] == 1
    first, second = server.subscriptions
    assert first.sent == 12
    # Resumed a few seconds before the last event it had, not after it (no gap) …
    assert second.cursor is not None
    # (The first post may still have been on its way into the database: then from it.)
    assert t0 - REWIND_US <= second.cursor <= t0 + 11 * SECOND - REWIND_US
    # … and what it saw twice is stored once.
    assert set(await stored_posts(sessionmaker)) == tagged


async def test_restart_resumes_from_the_stored_cursor(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    t0 = now_us() - 120 * SECOND
    events, tagged = stream(t0, 40)
    async with JetstreamServer(events[:20]) as server:
        async with bluesky_context(sessionmaker, tmp_path, FakeBlueskyAPI(), [server.url]) as ctx:
            await make_event(ctx.writer, "dk2026")
            async with running(ctx, spec("dk2026")) as runtime:
                await until(lambda: runtime.health.counts["received"] == 20)
                await until(lambda: runtime.in_flight == 0)
            # A clean stop saved the cursor at the last event.
            assert await ctx.cursors.get(CURSOR_KEY) == str(t0 + 19 * SECOND)
            await server.publish(*events[20:])
            async with running(ctx, spec("dk2026")) as runtime:
                counts = runtime.health.counts
                await until(lambda: counts["received"] == 20 + 5 + 1)
                await until(lambda: runtime.in_flight == 0)
                # Two of the replayed seconds held tagged posts: seen again, unchanged.
                assert (counts["created"], counts["unchanged"]) == (7, 2)
            assert server.subscriptions[1].cursor == t0 + 19 * SECOND - REWIND_US
    assert set(await stored_posts(sessionmaker)) == tagged


async def test_cursor_waits_for_the_posts_before_it(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    t0 = now_us() - 60 * SECOND
    events, tagged = stream(t0, 21, every=100)  # only the first is tagged
    api = FakeBlueskyAPI()
    api.profiles_open.clear()  # the tagged post cannot be stored yet
    async with JetstreamServer(events) as server:
        async with bluesky_context(sessionmaker, tmp_path, api, [server.url]) as ctx:
            await make_event(ctx.writer, "dk2026")
            async with running(ctx, spec("dk2026")) as runtime:
                await until(lambda: runtime.health.counts["received"] == 21)
                assert runtime.in_flight == 1
                await until(_cursor_is(ctx, t0))
                api.profiles_open.set()
                await until(_cursor_is(ctx, t0 + 20 * SECOND))
    assert set(await stored_posts(sessionmaker)) == tagged


def _cursor_is(ctx: RuntimeContext, value: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await ctx.cursors.get(CURSOR_KEY) == str(value)

    return check


async def test_hosts_are_tried_in_turn(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    t0 = now_us()
    async with JetstreamServer() as down, JetstreamServer() as up:
        down.refuse = True
        await up.publish(post_event(did(1), "a", "#dk2026", time_us=t0))
        urls = ["https://jetstream.example", down.url, up.url]  # not ws(s): never dialled
        async with bluesky_context(sessionmaker, tmp_path, FakeBlueskyAPI(), urls) as ctx:
            await make_event(ctx.writer, "dk2026")
            async with running(ctx, spec("dk2026")) as runtime:
                await until(lambda: runtime.health.counts["created"] == 1)
                assert runtime.health.status == ConnectorStatus.CONNECTED
                assert runtime.health.counts["errors"] == 2
                assert down.refused == 1
                assert len(up.subscriptions) == 1
