"""A client that stops reading is dropped and never holds up the others."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import httpx

from backchannel.db.migrate import upgrade_async
from backchannel.streams import channels
from backchannel.streams.frames import encode
from support import serve_app
from support import test_settings as settings_for
from support_sse import SSEClient, create_event, poll

POSTS = 150
BIG = "x" * 4800
BIG_FRAMES = 80


def _stuck_client(port: int, path: str) -> socket.socket:
    """A raw socket that asks for a stream and never reads it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
    sock.sendall(request.encode() + b"\r\n")
    sock.setblocking(False)
    return sock


async def _read_to_end(sock: socket.socket, timeout: float) -> bytes:
    """Read what the server sent until it closes the connection (or fail at the deadline)."""
    loop = asyncio.get_running_loop()
    received = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), 1)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return bytes(received)
        if not chunk:
            return bytes(received)
        received += chunk
    raise AssertionError(f"the server kept the stuck client open ({len(received)} bytes read)")


async def test_a_slow_client_is_dropped_and_never_holds_up_others(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'slow.db'}"
    await upgrade_async(url)
    settings = settings_for(tmp_path, url, stream_buffer_frames=32)
    async with (
        serve_app(settings) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=10) as http,
    ):
        streams = server.services.extra["streams"]
        organiser = await server.user("org", "organiser")
        alice = await server.user("alice")
        await create_event(http, organiser, "slow", "slowwall")
        path = "/api/streams/events/slow/wall"
        stuck = _stuck_client(settings.port, path)
        try:
            async with SSEClient(server.base_url, path) as reader:
                await poll(lambda: len(streams.registry.open) == 2, 5, "both connections")

                async def one(n: int) -> None:
                    response = await http.post(
                        "/api/posts",
                        json={"status": f"{n} {BIG} #slowwall"},
                        headers={"Authorization": f"Bearer {alice}"},
                    )
                    assert response.status_code == 201, response.text

                started = time.monotonic()
                for batch in range(0, POSTS, 10):
                    await asyncio.gather(*(one(n) for n in range(batch, batch + 10)))
                posted = time.monotonic()
                await reader.wait_frames(POSTS, timeout=10)
                received = time.monotonic()
                numbers = [int(f.json()["text"].split()[0]) for f in reader.frames]
                assert sorted(numbers) == list(range(POSTS))
                assert [int(f.id or 0) for f in reader.frames] == list(range(1, POSTS + 1))
                # Every frame was there (almost) as soon as its post was acknowledged.
                assert received - posted < 2.0, (started, posted, received)

                # Loopback sockets buffer megabytes: send more than that, so the
                # stuck client's socket (and then the server's buffer) fills up.
                event = (await http.get("/api/events/slow")).json()
                wall = channels.event_wall(int(event["id"]))

                async def big(uow: Any, start: int) -> None:
                    for n in range(start, start + 10):
                        uow.emit(wall, "post", encode({"id": str(n), "text": "y" * 100_000}))

                for start in range(0, BIG_FRAMES, 10):  # each commit fits the buffer
                    await server.services.writer.submit(lambda uow, s=start: big(uow, s))
                await reader.wait_frames(POSTS + BIG_FRAMES, timeout=10)

                # The stuck one is dropped: gone from the registry and the channel.
                await poll(lambda: len(streams.registry.open) == 1, 10, "the slow client's drop")
                [buffer] = [b for b in streams.hub._buffers.values() if "wall" in b.channel]
                assert len(buffer.wakers) == 1
                # ... and its connection is closed: it reads what was sent, then EOF
                # (sooner than uvicorn's 5 s keep-alive, which would close a
                # connection whose response the server had finished normally).
                data = await _read_to_end(stuck, 3)
                assert data.startswith(b"HTTP/1.1 200 OK")
                assert data.count(b"event: post") < POSTS + BIG_FRAMES
                # The reader is still live.
                count = len(reader.frames)
                await one(POSTS)
                await reader.wait_frames(count + 1, timeout=2)
        finally:
            stuck.close()


async def test_a_client_that_goes_away_is_forgotten(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gone.db'}"
    await upgrade_async(url)
    settings = settings_for(tmp_path, url)
    async with serve_app(settings) as server, httpx.AsyncClient(base_url=server.base_url) as http:
        streams: Any = server.services.extra["streams"]
        organiser = await server.user("org", "organiser")
        await create_event(http, organiser, "gone", "gonewall")
        async with SSEClient(server.base_url, "/api/streams/events/gone/wall"):
            await poll(lambda: len(streams.registry.open) == 1, 5, "the connection")
            assert len(streams.hub._buffers) == 1
        await poll(lambda: not streams.registry.open, 5, "the disconnect")
        assert streams.hub._buffers == {}
