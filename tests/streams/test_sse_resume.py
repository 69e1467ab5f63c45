"""The must-show: a client drops, posts are made, one is hidden and another pinned,
and the client reconnects with ``Last-Event-ID`` and gets exactly what it missed.

Runs on SQLite with the in-process broker and on PostgreSQL with Redis (``live``).
"""

from __future__ import annotations

from typing import Any

from support import LiveServer
from support_sse import SSEClient, create_event, decide, post

WALL = "/api/streams/events/{slug}/wall"


async def _setup(server: LiveServer, http: Any, slug: str, tag: str) -> tuple[str, str]:
    organiser = await server.user("org", "organiser")
    alice = await server.user("alice")
    await create_event(http, organiser, slug, tag)
    return organiser, alice


async def test_reconnect_gets_exactly_what_was_missed(server: LiveServer, http: Any) -> None:
    organiser, alice = await _setup(server, http, "resume", "resumetest")
    path = WALL.format(slug="resume")

    async with SSEClient(server.base_url, path) as client:
        p1 = await post(http, alice, "first #resumetest")
        p2 = await post(http, alice, "second #resumetest")
        await client.wait_frames(2)
        assert client.events() == [("post", p1), ("post", p2)]
        last_id = client.last_id
        assert last_id is not None
    # The connection is gone (and with it the only subscriber of this wall).

    p3 = await post(http, alice, "third #resumetest")
    p4 = await post(http, alice, "fourth #resumetest")
    p5 = await post(http, alice, "fifth #resumetest")
    await post(http, alice, "not for this event #elsewhere")
    await decide(http, organiser, "resume", p1, "hide")  # seen before the drop
    await decide(http, organiser, "resume", p3, "hide")  # made and hidden meanwhile
    await decide(http, organiser, "resume", p4, "pin")
    missed = [
        ("post", p3),
        ("post", p4),
        ("post", p5),
        ("remove", p1),
        ("remove", p3),
        ("pin", p4),
    ]

    async with SSEClient(server.base_url, path, last_event_id=last_id) as again:
        await again.wait_frames(len(missed))
        # One more live post: when it is there, everything before it has come too.
        p6 = await post(http, alice, "sixth #resumetest")
        await again.wait_frames(len(missed) + 1)
        assert again.events() == [*missed, ("post", p6)]
        ids = [int(f.id or 0) for f in again.frames]
        assert ids == list(range(int(last_id) + 1, int(last_id) + len(missed) + 2))
        # The pin carries the post, so a wall can show it without another request.
        assert again.frames[5].json()["text"] == "fourth #resumetest"


async def test_reconnect_while_others_keep_the_channel_open(server: LiveServer, http: Any) -> None:
    """The same, but the wall's shared buffer stays alive (another viewer is on it),
    so the missed frames come from the buffer rather than the store."""
    organiser, alice = await _setup(server, http, "busy", "busywall")
    path = WALL.format(slug="busy")
    async with SSEClient(server.base_url, path) as keeper:
        async with SSEClient(server.base_url, path) as client:
            p1 = await post(http, alice, "one #busywall")
            await client.wait_frames(1)
            last_id = client.last_id
        p2 = await post(http, alice, "two #busywall")
        await decide(http, organiser, "busy", p2, "pin")
        await decide(http, organiser, "busy", p1, "hide")
        await decide(http, organiser, "busy", p2, "unpin")
        missed = [("post", p2), ("pin", p2), ("remove", p1), ("unpin", p2)]
        await keeper.wait_frames(5)
        async with SSEClient(server.base_url, path, last_event_id=last_id) as again:
            await again.wait_frames(len(missed))
            p3 = await post(http, alice, "three #busywall")
            await again.wait_frames(len(missed) + 1)
            assert again.events() == [*missed, ("post", p3)]
        await keeper.wait_frames(6)
        assert keeper.events() == [("post", p1), *missed, ("post", p3)]


async def test_reconnect_with_nothing_missed_gets_only_new_frames(
    server: LiveServer, http: Any
) -> None:
    _, alice = await _setup(server, http, "quiet", "quietwall")
    path = WALL.format(slug="quiet")
    async with SSEClient(server.base_url, path) as client:
        await post(http, alice, "one #quietwall")
        await client.wait_frames(1)
        last_id = client.last_id
    async with SSEClient(server.base_url, path, last_event_id=last_id) as again:
        p2 = await post(http, alice, "two #quietwall")
        await again.wait_frames(1)
        assert again.events() == [("post", p2)]


async def test_a_new_client_starts_live(server: LiveServer, http: Any) -> None:
    _, alice = await _setup(server, http, "fresh", "freshwall")
    await post(http, alice, "before #freshwall")
    async with SSEClient(server.base_url, WALL.format(slug="fresh")) as client:
        p2 = await post(http, alice, "after #freshwall")
        await client.wait_frames(1)
        assert client.events() == [("post", p2)]
        assert client.last_id == "2"


async def test_a_long_absence_is_replayed_in_batches(server: LiveServer, http: Any) -> None:
    """More than one replay batch (500) missed: all of it, in order."""
    from backchannel.streams import channels
    from backchannel.streams.repository import append

    _, alice = await _setup(server, http, "long", "longwall")
    path = WALL.format(slug="long")
    async with SSEClient(server.base_url, path) as client:
        p1 = await post(http, alice, "one #longwall")
        await client.wait_frames(1)
        last_id = client.last_id
    event = (await http.get("/api/events/long")).json()
    channel = channels.event_wall(int(event["id"]))

    async def write(uow: Any) -> None:
        await append(uow.session, [(channel, "post", b'{"id":"%d"}' % n) for n in range(1200)])

    await server.services.writer.submit(write)
    async with SSEClient(server.base_url, path, last_event_id=last_id) as again:
        await again.wait_frames(1200)
        assert [f.post_id for f in again.frames] == [str(n) for n in range(1200)]
        assert [int(f.id or 0) for f in again.frames] == list(range(2, 1202))
    assert p1


async def test_heartbeats_arrive_on_an_idle_stream(server: LiveServer, http: Any) -> None:
    await _setup(server, http, "idle", "idlewall")
    async with SSEClient(server.base_url, WALL.format(slug="idle")) as client:
        # ": open" at once, then a heartbeat about every second (test settings).
        await client.wait_until(lambda: len(client.comments) >= 3, timeout=4, what="heartbeats")
        assert client.comments[0] == "open"
        assert client.frames == []


async def test_streams_of_things_that_do_not_exist(server: LiveServer, http: Any) -> None:
    assert (await http.get("/api/streams/events/nope/wall")).status_code == 404
    assert (await http.get("/api/streams/accounts/nobody")).status_code == 404
    assert (await http.get("/api/streams/tags/-")).status_code == 400
    assert (await http.get("/api/streams")).status_code == 400
    assert (await http.get("/api/streams", params={"stream": "bogus"})).status_code == 400
