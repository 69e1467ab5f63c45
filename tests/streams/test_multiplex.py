"""One connection, several channels: each channel's frames arrive, and a vector
``Last-Event-ID`` (a cursor per channel, in URL order) resumes every one of them."""

from __future__ import annotations

from typing import Any

from support import LiveServer
from support_sse import SSEClient, SSEFrame, create_event, decide, post


def by_channel(frames: list[SSEFrame]) -> dict[str, list[tuple[str, str, int]]]:
    """channel → [(event, post id, seq)] in arrival order."""
    out: dict[str, list[tuple[str, str, int]]] = {}
    for frame in frames:
        data = frame.json()
        out.setdefault(data["channel"], []).append((frame.event, frame.post_id, data["seq"]))
    return out


def kinds(entries: list[tuple[str, str, int]]) -> list[tuple[str, str]]:
    return [(event, post_id) for event, post_id, _ in entries]


async def test_one_connection_carries_wall_tag_and_account(server: LiveServer, http: Any) -> None:
    organiser = await server.user("org", "organiser")
    alice = await server.user("alice")
    bob = await server.user("bob")
    event = await create_event(http, organiser, "multi", "multiwall")
    wall = f"event:{event['id']}:wall"
    specs = ["wall:multi", "tag:OtherTag", "account:bob"]
    channel_names = [wall, "tag:othertag", f"account:{(await _account_id(http, bob))}"]
    params = [("stream", s) for s in specs]

    async with SSEClient(server.base_url, "/api/streams", params=params) as client:
        a1 = await post(http, alice, "wall only #multiwall")
        b1 = await post(http, bob, "tag and account #othertag")
        b2 = await post(http, bob, "everywhere #multiwall #othertag")
        await post(http, alice, "nowhere we listen #unrelated")
        await client.wait_frames(5)
        got = by_channel(client.frames)
        assert kinds(got[wall]) == [("post", a1), ("post", b2)]
        assert kinds(got["tag:othertag"]) == [("post", b1), ("post", b2)]
        assert kinds(got[channel_names[2]]) == [("post", b1), ("post", b2)]
        # The id after each frame is the whole vector: wall.tag.account.
        assert client.last_id == "2.2.2"
        assert [f.id for f in client.frames][-1] == "2.2.2"
        for frame in client.frames:
            cursors = [int(c) for c in (frame.id or "").split(".")]
            data = frame.json()
            assert cursors[channel_names.index(data["channel"])] == data["seq"]
        last_id = client.last_id

    # Missed while away: on every channel, hides included.
    b3 = await post(http, bob, "while away #othertag")
    a2 = await post(http, alice, "while away #multiwall")
    await decide(http, organiser, "multi", a1, "hide")
    await decide(http, organiser, "multi", a2, "pin")
    response = await http.delete(f"/api/posts/{b1}", headers={"Authorization": f"Bearer {bob}"})
    assert response.status_code == 204, response.text

    expected = {
        wall: [("post", a2), ("remove", a1), ("pin", a2)],
        "tag:othertag": [("post", b3), ("delete", b1)],
        channel_names[2]: [("post", b3), ("delete", b1)],
    }
    total = sum(len(v) for v in expected.values())
    async with SSEClient(
        server.base_url, "/api/streams", params=params, last_event_id=last_id
    ) as again:
        await again.wait_frames(total)
        # A live post on all three: once it is there, nothing older is still coming.
        b4 = await post(http, bob, "back again #multiwall #othertag")
        await again.wait_frames(total + 3)
        got = by_channel(again.frames)
        for channel, events in expected.items():
            assert kinds(got[channel]) == [*events, ("post", b4)], channel
            seqs = [seq for _, _, seq in got[channel]]
            assert seqs == list(range(3, 3 + len(events) + 1)), channel
        assert again.last_id == "6.5.5"


async def test_vector_ids_that_do_not_fit_start_live(server: LiveServer, http: Any) -> None:
    organiser = await server.user("org", "organiser")
    alice = await server.user("alice")
    await create_event(http, organiser, "vec", "vecwall")
    await post(http, alice, "before #vecwall #vectag")
    params = [("stream", "wall:vec"), ("stream", "tag:vectag")]
    async with SSEClient(
        server.base_url, "/api/streams", params=params, last_event_id="0"
    ) as client:
        p2 = await post(http, alice, "after #vecwall #vectag")
        await client.wait_frames(2)
        assert sorted(f.post_id for f in client.frames) == [p2, p2]


async def test_queue_needs_a_moderator(server: LiveServer, http: Any) -> None:
    organiser = await server.user("org", "organiser")
    alice = await server.user("alice")
    await create_event(http, organiser, "q", "qwall")
    response = await http.get("/api/streams", params={"stream": "queue:q"})
    assert response.status_code == 401
    response = await http.get(
        "/api/streams", params={"stream": ["wall:q", "queue:q"], "access_token": alice}
    )
    assert response.status_code == 403
    response = await http.get("/api/streams/events/q/queue", params={"access_token": "nope"})
    assert response.status_code == 401
    params = [("stream", "wall:q"), ("stream", "queue:q"), ("access_token", organiser)]
    async with SSEClient(server.base_url, "/api/streams", params=params) as client:
        p1 = await post(http, alice, "hello #qwall")
        await client.wait_frames(2)
        channels = sorted(f.json()["channel"].rsplit(":", 1)[1] for f in client.frames)
        assert channels == ["queue", "wall"]
        assert {f.post_id for f in client.frames} == {p1}


async def _account_id(http: Any, token: str) -> str:
    response = await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])
