"""Helpers for the media proxy tests (importable as ``support_media``): real images,
a remote image server on 127.0.0.1 that counts what it is asked, and a live app that
may fetch from 127.0.0.1."""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from support import LiveServer, free_port, serve_app, test_settings

DATA = Path(__file__).resolve().parent / "data" / "media"
#: The live app's ``media_max_bytes`` in these tests: small, so "too large" is cheap.
MAX_BYTES = 64_000
TINY_JPEG = (DATA / "tiny.jpg").read_bytes()


def png(width: int = 6, height: int = 4, rgb: tuple[int, int, int] = (228, 87, 46)) -> bytes:
    """A real PNG of one colour (any decoder shows it)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    row = b"\x00" + bytes(rgb) * width  # filter byte "none", then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


#: A 1×1 GIF89a (the classic transparent pixel).
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00"
    b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.cookie)</script><rect width='10' height='10'/></svg>"
)
HTML = b"<!doctype html><title>Not an image</title><script>alert(1)</script>"


class ImageServer:
    """A remote server with images, and with what goes wrong with remote images."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        #: Each test gets its own URLs (``/GENERATION/name``), so the proxy's cache
        #: never has them from an earlier test; see ``reset``.
        self.generation = 0
        self.reset()
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    def reset(self) -> None:
        """New URLs and fresh counts, for the next test."""
        self.generation += 1
        #: ``/name`` -> how many requests it got (under this generation's URLs).
        self.hits: Counter[str] = Counter()
        self.user_agents: list[str] = []
        self.slow_seconds = 3.0
        #: How many more requests to ``/flaky.png`` fail before it works.
        self.flaky_failures = 1

    def url(self, path: str) -> str:
        return f"{self.base_url}/{self.generation}{path}"

    def _app(self) -> Starlette:
        big = png() + b"\x00" * MAX_BYTES  # a PNG that is too big for the proxy

        async def image(request: Request) -> Response:
            if request.path_params["generation"] != self.generation:
                return Response(b"an earlier test's URL", status_code=410)
            name = request.path_params["name"]
            self.hits[f"/{name}"] += 1
            self.user_agents.append(request.headers.get("user-agent", ""))
            if name == "photo.png" or name.startswith("avatar"):
                return Response(png(), media_type="image/png")
            if name == "other.png":
                return Response(png(rgb=(58, 123, 213)), media_type="image/png")
            if name == "tiny.jpg":
                return Response(TINY_JPEG, media_type="image/jpeg")
            if name == "pixel.gif":
                return Response(GIF, media_type="image/gif")
            if name == "huge.png":  # says how big it is
                return Response(big, media_type="image/png")
            if name == "endless.png":  # does not say: the proxy must count
                return StreamingResponse(_endless(), media_type="image/png")
            if name == "drawing.svg":
                return Response(SVG, media_type="image/svg+xml")
            if name == "fake.png":  # HTML dressed up as a PNG
                return Response(HTML, media_type="image/png")
            if name == "page.html":
                return Response(HTML, media_type="text/html")
            if name == "slow.png":
                await asyncio.sleep(self.slow_seconds)
                return Response(png(), media_type="image/png")
            if name == "flaky.png" and self.flaky_failures > 0:
                self.flaky_failures -= 1
                return Response(b"try later", status_code=503)
            if name == "flaky.png":
                return Response(png(), media_type="image/png")
            return Response(b"not here", status_code=404)

        return Starlette(routes=[Route("/{generation:int}/{name:path}", image)])

    async def start(self) -> None:
        import uvicorn

        config = uvicorn.Config(self._app(), host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        deadline = asyncio.get_running_loop().time() + 10
        while not self._server.started:
            if self._task.done():
                self._task.result()
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the image server did not start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Gone: afterwards a connection to it is refused."""
        if self._task is None:
            return
        self._server.should_exit = True
        self._server.force_exit = True  # do not wait for a slow response to finish
        await asyncio.wait_for(self._task, 10)
        self._task = None


async def _endless() -> AsyncIterator[bytes]:
    yield png()
    for _ in range(1000):
        yield b"\x00" * 16_384


@asynccontextmanager
async def image_server() -> AsyncIterator[ImageServer]:
    server = ImageServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@asynccontextmanager
async def private_fetching_live(
    database_url: str, redis_url: str, data_dir: Path, **extra: Any
) -> AsyncIterator[LiveServer]:
    """A live app that may fetch from 127.0.0.1 (where the image server runs)."""
    settings = test_settings(
        data_dir,
        database_url,
        redis_url,
        http_allow_private=extra.pop("http_allow_private", True),
        media_max_bytes=extra.pop("media_max_bytes", MAX_BYTES),
        **extra,
    )
    async with serve_app(settings) as server:
        yield server


def media_proxy(server: LiveServer) -> Any:
    """The live app's ``MediaProxy`` (to shorten its timeouts in a test)."""
    from backchannel.media.routes import media_proxy as proxy_of

    return proxy_of(server.services)


def proxied(server: LiveServer, url: str) -> str:
    """What the live app shows for a remote image URL (a ``/media/…`` path)."""
    from backchannel.media import links

    found = links.for_settings(server.services.settings).proxied(url)
    assert found is not None
    return found
