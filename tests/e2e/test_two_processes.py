"""Two ``backchannel serve`` processes on one PostgreSQL and one Redis.

A post made on one process arrives on a wall stream of the other; a hide made on the
second removes it from a stream of the first; a client of the first that drops its
connection and reconnects to the second with ``Last-Event-ID`` receives exactly what
it missed — posts, hides and pins — compared frame by frame with a client that stayed.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from support_process import (
    SseClient,
    SseEvent,
    create_user,
    process_env,
    serving,
    sign_in,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


def _with(event: str, post_id: str) -> Any:
    def check(events: list[SseEvent]) -> bool:
        return any(e.event == event and e.json()["id"] == post_id for e in events)

    return check


def _after(events: list[SseEvent], last_id: str) -> list[SseEvent]:
    ids = [e.id for e in events]
    assert last_id in ids, f"{last_id} not among {ids}"
    return events[ids.index(last_id) + 1 :]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("redis_or_memory", ["redis"], indirect=True)
async def test_two_processes_share_walls_and_resumption(
    database_url: str, redis_or_memory: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    tag = f"twoproc{run}"
    env = process_env(
        database_url=database_url,
        redis_url=redis_or_memory,
        redis_prefix=f"bce2e{run}",
        secret_key=f"shared-{run}",
        sse_heartbeat_seconds="1",
    )
    organiser, attendee = f"orga{run}", f"att{run}"
    create_user(env, organiser, role="organiser")
    create_user(env, attendee)

    async with (
        serving(env, tmp_path / "one", tmp_path / "one.log") as one,
        serving(env, tmp_path / "two", tmp_path / "two.log") as two,
        httpx.AsyncClient(base_url=one.base_url, timeout=15) as http1,
        httpx.AsyncClient(base_url=two.base_url, timeout=15) as http2,
    ):
        orga = {"Authorization": f"Bearer {await sign_in(http2, organiser)}"}
        att = {"Authorization": f"Bearer {await sign_in(http1, attendee)}"}

        created = await http1.post(
            "/api/events",
            headers=orga,
            json={
                "name": f"Two processes {run}",
                "primary_tag": tag,
                "starts_at": "2026-05-14T09:00:00+02:00",
                "ends_at": "2026-05-14T18:00:00+02:00",
                "timezone": "Europe/Berlin",
                "moderation_mode": "open",
            },
        )
        assert created.status_code == 201, created.text
        slug = created.json()["slug"]
        wall = f"/api/streams/events/{slug}/wall"

        async def post(http: httpx.AsyncClient, text: str) -> str:
            response = await http.post("/api/posts", headers=att, json={"status": text})
            assert response.status_code == 201, response.text
            post_id: str = response.json()["id"]
            return post_id

        async def decide(action: str, post_id: str) -> None:
            response = await http2.post(
                f"/api/events/{slug}/posts/{post_id}/{action}",
                headers=orga,
                json={"reason": "e2e"},
            )
            assert response.status_code == 200, response.text

        # ``stayed`` is the reference: connected to process two the whole time.
        async with SseClient(two.base_url, wall) as stayed:
            client = SseClient(one.base_url, wall)
            async with client:
                # A post made on process two arrives on process one's stream...
                first = await post(http2, f"first on two #{tag}")
                await client.wait_for("post from two on one", _with("post", first))
                # ...and one made on process one on process two's.
                second = await post(http1, f"second on one #{tag}")
                await stayed.wait_for("post from one on two", _with("post", second))
                await client.wait_for("own post on one", _with("post", second))
                # A hide decided on process two removes the post from process one's stream.
                await decide("hide", first)
                await client.wait_for("remove from two on one", _with("remove", first))
                await stayed.wait_for("remove on two", _with("remove", first))
            # The client of process one is gone; things happen meanwhile.
            last_seen = client.last_event_id
            assert last_seen is not None
            missed_posts = [
                await post(http1 if n % 2 else http2, f"missed {n} #{tag}") for n in range(4)
            ]
            await decide("hide", missed_posts[1])
            await decide("pin", missed_posts[2])
            await decide("hide", second)
            await stayed.wait_for("the reference sees everything", _with("remove", second))
            expected = _after(stayed.events, last_seen)
            kinds = [e.event for e in expected]
            assert kinds.count("post") == 4 and kinds.count("pin") == 1, kinds
            assert kinds.count("remove") == 2, kinds

            # It reconnects to process two, and gets exactly what it missed.
            async with SseClient(two.base_url, wall, last_event_id=last_seen) as resumed:
                await resumed.wait_for(
                    "the missed frames", lambda events: len(events) >= len(expected)
                )
                await asyncio.sleep(1.5)  # nothing more may come (heartbeats only)
                assert resumed.events == expected
                # Live frames continue on the resumed stream, from either process.
                after = await post(http1, f"after the resume #{tag}")
                await resumed.wait_for("live after resume", _with("post", after))
                await stayed.wait_for("live on the reference", _with("post", after))
                assert resumed.events == _after(stayed.events, last_seen)

        # The snapshot agrees: what was hidden is off the wall, the pin is pinned.
        snapshot = (await http1.get(f"/api/events/{slug}/wall")).json()
        on_wall = {p["id"] for p in snapshot["posts"]}
        assert first not in on_wall and second not in on_wall
        assert missed_posts[1] not in on_wall
        assert {missed_posts[0], missed_posts[2], missed_posts[3], after} <= on_wall
        assert [p["id"] for p in snapshot["pinned"]] == [missed_posts[2]]
