"""The Redis broker: frames cross processes; a client can resume on any of them.

Two servers run in this loop on one database (a shared SQLite file, or PostgreSQL)
and one Redis, as two ``backchannel serve`` processes behind a proxy would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from backchannel.broker.redis import pack, unpack
from backchannel.streams.frames import Frame, encode
from conftest import redis_url_or_unavailable, truncate_all
from support import LiveServer, serve_app
from support import test_settings as settings_for
from support_sse import SSEClient, create_event, decide, post


def test_pack_unpack_round_trip() -> None:
    frames = [
        Frame("event:1:wall", 1, "post", encode({"id": "1", "text": "héllo 🎉\nworld"})),
        Frame("tag:ünïcode", 2**40, "remove", b'{"id":"2"}'),
        Frame("account:3", 7, "x", b""),
        Frame("c", 1, "post", b"\x00" * 70_000),
    ]
    back = unpack(pack(frames))
    assert [(f.channel, f.seq, f.event, f.data) for f in back] == [
        (f.channel, f.seq, f.event, f.data) for f in frames
    ]
    assert unpack(pack([])) == []
    assert back[0].single == frames[0].single


@pytest.fixture(scope="module")
async def pair(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    """Two servers on one database and one Redis."""
    redis_url = await redis_url_or_unavailable()
    async with AsyncExitStack() as stack:
        servers = []
        for name in ("a", "b"):
            path: Path = tmp_path_factory.mktemp(f"server-{name}")
            settings = settings_for(path, database_url, redis_url)
            servers.append(await stack.enter_async_context(serve_app(settings)))
        yield servers[0], servers[1]


@pytest.fixture
async def servers(
    pair: tuple[LiveServer, LiveServer], engine: AsyncEngine
) -> tuple[LiveServer, LiveServer]:
    await truncate_all(engine)
    return pair


async def test_posts_decisions_and_resumes_cross_servers(
    servers: tuple[LiveServer, LiveServer],
) -> None:
    a, b = servers
    async with (
        httpx.AsyncClient(base_url=a.base_url, timeout=10) as http_a,
        httpx.AsyncClient(base_url=b.base_url, timeout=10) as http_b,
    ):
        organiser = await a.user("org", "organiser")
        alice = await a.user("alice")
        await create_event(http_a, organiser, "twin", "twinwall")
        path = "/api/streams/events/twin/wall"

        async with SSEClient(a.base_url, path) as on_a, SSEClient(b.base_url, path) as on_b:
            # A post made on A arrives on a wall stream of B (and of A).
            p1 = await post(http_a, alice, "made on A #twinwall")
            await on_b.wait_frames(1, timeout=2)
            await on_a.wait_frames(1, timeout=2)
            # A hide made on B removes it from a stream of A.
            await decide(http_b, organiser, "twin", p1, "hide")
            await on_a.wait_frames(2, timeout=2)
            assert on_a.events() == [("post", p1), ("remove", p1)]
            # Posts from both servers, one stream order everywhere.
            p2 = await post(http_b, alice, "made on B #twinwall")
            p3 = await post(http_a, alice, "made on A again #twinwall")
            await on_a.wait_frames(4)
            await on_b.wait_frames(4)
            expected = [("post", p1), ("remove", p1), ("post", p2), ("post", p3)]
            assert on_a.events() == on_b.events() == expected
            assert (
                [f.id for f in on_a.frames] == [f.id for f in on_b.frames] == ["1", "2", "3", "4"]
            )
            last_id = on_a.last_id

        # A's client is gone; meanwhile things happen on both servers.
        p4 = await post(http_a, alice, "while away, on A #twinwall")
        p5 = await post(http_b, alice, "while away, on B #twinwall")
        await decide(http_b, organiser, "twin", p2, "hide")
        await decide(http_a, organiser, "twin", p5, "pin")
        missed = [("post", p4), ("post", p5), ("remove", p2), ("pin", p5)]

        # It reconnects to B with the id it had from A, and misses nothing.
        async with SSEClient(b.base_url, path, last_event_id=last_id) as resumed:
            await resumed.wait_frames(len(missed))
            p6 = await post(http_a, alice, "live again #twinwall")
            await resumed.wait_frames(len(missed) + 1)
            assert resumed.events() == [*missed, ("post", p6)]
            assert [f.id for f in resumed.frames] == ["5", "6", "7", "8", "9"]


async def test_a_frame_redis_lost_is_filled_from_the_database(
    servers: tuple[LiveServer, LiveServer],
) -> None:
    """Publishing is best effort: a frame that never reaches Redis is read from the
    store when the next one shows the gap."""
    a, b = servers
    async with httpx.AsyncClient(base_url=a.base_url, timeout=10) as http_a:
        organiser = await a.user("org", "organiser")
        alice = await a.user("alice")
        await create_event(http_a, organiser, "lossy", "lossywall")
        path = "/api/streams/events/lossy/wall"
        async with SSEClient(b.base_url, path) as on_b:
            p1 = await post(http_a, alice, "one #lossywall")
            await on_b.wait_frames(1)
            broker: Any = a.services.broker
            real_publish = broker.publish

            async def lose(frames: list[Frame]) -> None:
                raise ConnectionError("Redis went away for a moment")

            broker.publish = lose
            try:
                p2 = await post(http_a, alice, "lost on the way #lossywall")
            finally:
                broker.publish = real_publish
            p3 = await post(http_a, alice, "three #lossywall")
            await on_b.wait_frames(3, timeout=2)
            assert on_b.events() == [("post", p1), ("post", p2), ("post", p3)]
