"""Moderators' decisions reach every open wall and queue within a second."""

from __future__ import annotations

import time
from typing import Any

from support import LiveServer
from support_sse import SSEClient, auth, create_event, decide, post


async def test_a_hide_reaches_an_open_wall_within_a_second(server: LiveServer, http: Any) -> None:
    organiser = await server.user("org", "organiser")
    alice = await server.user("alice")
    await create_event(http, organiser, "fast", "fastwall")
    async with SSEClient(server.base_url, "/api/streams/events/fast/wall") as wall:
        p1 = await post(http, alice, "hello #fastwall")
        await wall.wait_frames(1)
        for action, event in (("pin", "pin"), ("unpin", "unpin"), ("hide", "remove")):
            count = len(wall.frames)
            await decide(http, organiser, "fast", p1, action)
            answered = time.monotonic()
            await wall.wait_frames(count + 1, timeout=1.0)
            assert time.monotonic() - answered < 1.0
            assert wall.events()[-1] == (event, p1)


async def test_the_queue_sees_every_post_and_decision_the_wall_sees_approved_ones(
    server: LiveServer, http: Any
) -> None:
    organiser = await server.user("org", "organiser")
    mod = await server.user("mod", "moderator")
    alice = await server.user("alice")
    await create_event(http, organiser, "gate", "gatewall", moderation_mode="approve_first")
    queue_path = "/api/streams/events/gate/queue"
    async with (
        SSEClient(server.base_url, "/api/streams/events/gate/wall") as wall,
        SSEClient(server.base_url, queue_path, params={"access_token": mod}) as queue,
    ):
        p1 = await post(http, alice, "please approve #gatewall")
        p2 = await post(http, alice, "spam #gatewall")
        await queue.wait_frames(2)
        assert queue.events() == [("post", p1), ("post", p2)]
        assert [f.json()["moderation"]["state"] for f in queue.frames] == ["pending"] * 2
        await decide(http, mod, "gate", p1, "approve")
        await decide(http, mod, "gate", p2, "hide")
        await queue.wait_frames(4)
        decisions = [f.json() for f in queue.frames[2:]]
        assert [(d["action"], d["post_id"], d["by"]) for d in decisions] == [
            ("approve", p1, "mod"),
            ("hide", p2, "mod"),
        ]
        await wall.wait_frames(1)
        # A late post to prove nothing else reached the wall: the hidden one never did.
        await decide(http, mod, "gate", p1, "pin")
        await wall.wait_frames(2)
        assert wall.events() == [("post", p1), ("pin", p1)]


async def test_freeze_holds_posts_back_and_unfreeze_releases_them(
    server: LiveServer, http: Any
) -> None:
    organiser = await server.user("org", "organiser")
    alice = await server.user("alice")
    await create_event(http, organiser, "cold", "coldwall")
    async with SSEClient(server.base_url, "/api/streams/events/cold/wall") as wall:
        response = await http.post("/api/events/cold/freeze", headers=auth(organiser))
        assert response.status_code == 200, response.text
        await wall.wait_frames(1)
        assert (wall.frames[0].event, wall.frames[0].json()) == ("freeze", {"frozen": True})
        held = await post(http, alice, "during the freeze #coldwall")
        response = await http.post("/api/events/cold/unfreeze", headers=auth(organiser))
        assert response.status_code == 200, response.text
        await wall.wait_frames(3)
        assert wall.frames[1].event == "post" and wall.frames[1].post_id == held
        assert (wall.frames[2].event, wall.frames[2].json()) == ("freeze", {"frozen": False})


async def test_edits_and_deletes_reach_the_wall(server: LiveServer, http: Any) -> None:
    organiser = await server.user("org", "organiser")
    alice = await server.user("alice")
    await create_event(http, organiser, "edit", "editwall")
    async with SSEClient(server.base_url, "/api/streams/events/edit/wall") as wall:
        p1 = await post(http, alice, "typo #editwall")
        response = await http.patch(
            f"/api/posts/{p1}", json={"status": "fixed #editwall"}, headers=auth(alice)
        )
        assert response.status_code == 200, response.text
        response = await http.delete(f"/api/posts/{p1}", headers=auth(alice))
        assert response.status_code == 204, response.text
        await wall.wait_frames(3)
        assert wall.events() == [("post", p1), ("update", p1), ("delete", p1)]
        assert wall.frames[1].json()["text"] == "fixed #editwall"


async def test_a_ban_removes_every_post_of_the_author(server: LiveServer, http: Any) -> None:
    organiser = await server.user("org", "organiser")
    alice = await server.user("alice")
    troll = await server.user("troll")
    await create_event(http, organiser, "ban", "banwall")
    async with SSEClient(server.base_url, "/api/streams/events/ban/wall") as wall:
        t1 = await post(http, troll, "one #banwall")
        a1 = await post(http, alice, "fine #banwall")
        t2 = await post(http, troll, "two #banwall")
        response = await http.post(
            "/api/events/ban/bans", json={"account": "troll"}, headers=auth(organiser)
        )
        assert response.status_code == 200, response.text
        await post(http, troll, "three #banwall")
        a2 = await post(http, alice, "still here #banwall")
        await wall.wait_frames(6)
        events = wall.events()
        assert events[:3] == [("post", t1), ("post", a1), ("post", t2)]
        assert sorted(events[3:5]) == [("remove", t1), ("remove", t2)]
        assert events[5:] == [("post", a2)]
