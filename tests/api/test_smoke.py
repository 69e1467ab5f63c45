"""The live-server harness itself: the app starts, answers, and takes a post."""

from __future__ import annotations

from typing import Any

from support import LiveServer


async def test_a_post_reaches_the_hashtag_timeline(server: LiveServer, http: Any) -> None:
    token = await server.user("alice")
    response = await http.post(
        "/api/posts",
        json={"status": "hello #smoketest"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    timeline = (await http.get("/api/tags/smoketest/timeline")).json()
    assert [p["text"] for p in timeline] == ["hello #smoketest"]
