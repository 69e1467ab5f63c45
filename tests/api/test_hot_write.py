"""``POST /api/posts`` is answered before the middleware chain when it can be; what it
answers must be what the application answers, and what it cannot take goes there."""

from __future__ import annotations

import asyncio
from typing import Any


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _event(api: Any) -> str:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "hotwrite")
    return str(await api.user("alice"))


async def test_a_post_by_token_is_stored_and_answered_as_the_route_answers(api: Any) -> None:
    alice = await _event(api)
    fast = await api.http.post("/api/posts", json={"status": "fast #hotwrite"}, headers=auth(alice))
    # The event route takes the long way: the same post JSON, the same headers.
    slow = await api.http.post(
        "/api/events/hotwrite/posts", json={"status": "slow #hotwrite"}, headers=auth(alice)
    )
    assert (fast.status_code, slow.status_code) == (201, 201), (fast.text, slow.text)
    assert fast.headers["content-type"] == slow.headers["content-type"] == "application/json"
    assert set(fast.json()) == set(slow.json())
    assert fast.json()["account"] == slow.json()["account"]
    assert fast.json()["tags"] == ["hotwrite"]
    assert api.texts(await api.timeline("hotwrite")) == ["slow #hotwrite", "fast #hotwrite"]


async def test_what_it_cannot_take_gets_the_applications_answer(api: Any) -> None:
    alice = await _event(api)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"headers": auth("no-such-token"), "json": {"status": "x"}}, 401, "invalid"),
        ({"headers": {"Authorization": "Basic abc"}, "json": {"status": "x"}}, 401, "Bearer"),
        ({"headers": auth(alice), "json": {"status": ""}}, 422, "status"),
        ({"headers": auth(alice), "json": {"status": "x", "extra": 1}}, 422, "extra"),
        (
            {
                "headers": {**auth(alice), "Content-Type": "application/json"},
                "content": b'{"status": "broken',
            },
            400,
            "malformed JSON",
        ),
        (
            {
                "headers": {**auth(alice), "Content-Type": "application/json"},
                "content": b'{"status": "nul \\u0000 here"}',
            },
            400,
            "NUL",
        ),
        ({"headers": auth(alice), "json": {"status": "x", "in_reply_to_id": "42"}}, 422, "42"),
        ({"json": {"status": "anonymous"}}, 401, "sign in"),
    ]
    for request, status, words in cases:
        response = await api.http.post("/api/posts", **request)
        assert response.status_code == status, (request, response.text)
        assert words in response.json()["error"], (request, response.json())
    big = {"status": "x" * 6000}
    response = await api.http.post("/api/posts", json=big, headers=auth(alice))
    assert response.status_code == 422
    # None of these stored anything, nor left the writer waiting for a write.
    assert await api.timeline("hotwrite") == []
    assert await api.tag_timeline("hotwrite") == []
    assert api.server.services.writer.arriving_now == 0


async def test_posts_in_flight_together_are_committed_together(api: Any) -> None:
    alice = await _event(api)
    writer = api.server.services.writer
    commits = 0
    commit = writer._commit

    async def counted(batch: Any) -> Any:
        nonlocal commits
        commits += 1
        return await commit(batch)

    writer._commit = counted
    try:
        responses = await asyncio.gather(
            *(
                api.http.post("/api/posts", json={"status": f"p{n} #hotwrite"}, headers=auth(alice))
                for n in range(20)
            )
        )
    finally:
        del writer._commit
    assert [r.status_code for r in responses] == [201] * 20
    assert len(await api.timeline("hotwrite")) == 20
    assert writer.arriving_now == 0
    # Requests that reach the server together share commits (how many depends on how
    # the connections' bytes arrive; one commit each would mean no grouping at all).
    assert commits < 20, commits
