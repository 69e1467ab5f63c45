"""Streaming a hashtag: over SSE with Mastodon.py's StreamListener, over WebSocket with
the ``websockets`` client. A second account posts; its delete arrives too."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
import websockets
from mastodon import StreamListener

from support import LiveServer
from support_mastodon import client, off_loop, user_token


class Collector(StreamListener):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.changed = threading.Event()

    def on_update(self, status: Any) -> None:
        self.events.append(("update", status))
        self.changed.set()

    def on_delete(self, status_id: Any) -> None:
        self.events.append(("delete", status_id))
        self.changed.set()

    def on_status_update(self, status: Any) -> None:
        self.events.append(("status.update", status))
        self.changed.set()


async def wait_for(predicate: Any, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the stream did not deliver in time")
        await asyncio.sleep(0.05)


async def test_hashtag_over_sse_with_mastodon_py(server: LiveServer) -> None:
    reader = client(server, await user_token(server, "reader"))
    poster = client(server, await user_token(server, "poster"))
    listener = Collector()
    handle = await off_loop(reader.stream_hashtag, "dk2018", listener, run_async=True)
    try:
        await asyncio.sleep(0.3)  # the stream is open (the server answered ":)")
        await off_loop(poster.status_post, "quiet one", visibility="private")
        await off_loop(poster.status_post, "secret #dk2018", visibility="private")
        status = await off_loop(poster.status_post, "Hello from the hall #DK2018")
        await wait_for(lambda: len(listener.events) >= 1)
        kind, received = listener.events[0]
        assert kind == "update" and received.id == status.id
        assert received.account.username == "poster"
        await off_loop(poster.status_update, status.id, "Hello again #dk2018")
        await wait_for(lambda: len(listener.events) >= 2)
        assert listener.events[1][0] == "status.update"
        await off_loop(poster.status_delete, status.id)
        await wait_for(lambda: len(listener.events) >= 3)
        assert listener.events[2] == ("delete", status.id)
        assert len(listener.events) == 3  # the private posts never came
    finally:
        await off_loop(handle.close)


async def test_hashtag_over_websocket(server: LiveServer) -> None:
    token = await user_token(server, "reader")
    poster = client(server, await user_token(server, "poster"))
    url = server.base_url.replace("http://", "ws://") + "/api/v1/streaming"
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}
    ) as ws:
        await ws.send(json.dumps({"type": "subscribe", "stream": "hashtag", "tag": "dk2018"}))
        await ws.send(json.dumps({"type": "subscribe", "stream": "public:local"}))
        await asyncio.sleep(0.3)
        await off_loop(poster.status_post, "hidden #dk2018", visibility="direct")
        status = await off_loop(poster.status_post, "live #dk2018")
        messages = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(2)]
        by_stream = {tuple(m["stream"]): m for m in messages}
        assert set(by_stream) == {("hashtag", "dk2018"), ("public:local",)}
        update = by_stream[("hashtag", "dk2018")]
        assert update["event"] == "update"
        assert json.loads(update["payload"])["id"] == status.id
        await ws.send(json.dumps({"type": "unsubscribe", "stream": "public:local"}))
        await asyncio.sleep(0.1)
        await off_loop(poster.status_delete, status.id)
        gone = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert gone == {
            "stream": ["hashtag", "dk2018"],
            "event": "delete",
            "payload": str(status.id),
        }
        await ws.send(json.dumps({"type": "subscribe", "stream": "nonsense"}))
        error = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert error["error"] and error["status"] == 400


async def test_websocket_stream_in_the_query_and_revocation(server: LiveServer, http: Any) -> None:
    token = await user_token(server, "reader")
    url = server.base_url.replace("http://", "ws://")
    query = f"/api/v1/streaming?access_token={token}&stream=hashtag&tag=late"
    async with websockets.connect(url + query) as ws:
        poster = client(server, await user_token(server, "poster"))
        await asyncio.sleep(0.2)
        await off_loop(poster.status_post, "late #late")
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert message["stream"] == ["hashtag", "late"]
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(url + "/api/v1/streaming?access_token=nope"):
            pass


async def test_user_stream_has_home_posts(server: LiveServer) -> None:
    alice = client(server, await user_token(server, "alice"))
    bob = client(server, await user_token(server, "bob"))
    await off_loop(alice.account_follow, (await off_loop(bob.me)).id)
    listener = Collector()
    handle = await off_loop(alice.stream_user, listener, run_async=True)
    try:
        await asyncio.sleep(0.3)
        post = await off_loop(bob.status_post, "for my followers", visibility="private")
        await wait_for(lambda: listener.events)
        assert listener.events[0][1].id == post.id
    finally:
        await off_loop(handle.close)


async def test_sse_needs_a_token_and_health_is_ok(http: Any) -> None:
    assert (await http.get("/api/v1/streaming/health")).text == "OK"
    response = await http.get("/api/v1/streaming/hashtag", params={"tag": "x"})
    assert response.status_code == 401 and set(response.json()) == {"error"}
