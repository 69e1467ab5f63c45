"""``GET /media/…`` on a live app against a remote image server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from backchannel.config import Settings
from support import LiveServer
from support_media import (
    MAX_BYTES,
    TINY_JPEG,
    ImageServer,
    image_server,
    media_proxy,
    png,
    private_fetching_live,
    proxied,
)


@pytest.fixture
def server(live: LiveServer) -> LiveServer:
    """The live app as is: the proxy keeps nothing in the database to clean up."""
    return live


async def _get(http: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
    response: httpx.Response = await http.get(url, **kwargs)
    return response


async def test_a_signed_url_serves_the_remote_image(
    server: LiveServer, http: httpx.AsyncClient, images: ImageServer
) -> None:
    response = await _get(http, proxied(server, images.url("/tiny.jpg")))

    assert response.status_code == 200
    assert response.content == TINY_JPEG
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "max-age=31536000" in response.headers["cache-control"]
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert "sandbox" in response.headers["content-security-policy"]
    # The remote server saw this server, not the reader's browser.
    assert images.hits["/tiny.jpg"] == 1
    assert images.user_agents[0].startswith("backchannel/")


async def test_the_second_request_and_a_dead_remote_are_served_from_the_cache(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    async with image_server() as remote:
        url = proxied(server, remote.url("/photo.png"))
        first = await _get(http, url)
        second = await _get(http, url)
        assert first.content == second.content == png()
        assert remote.hits["/photo.png"] == 1

    # The remote server is gone: connections to it are refused.
    started = time.monotonic()
    third = await _get(http, url)
    assert (third.status_code, third.content) == (200, png())
    assert time.monotonic() - started < 1.0
    # A browser that has it already gets a 304 for its ETag.
    again = await _get(http, url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


async def test_concurrent_requests_for_one_url_fetch_it_once(
    server: LiveServer, http: httpx.AsyncClient, images: ImageServer
) -> None:
    images.slow_seconds = 0.5
    url = proxied(server, images.url("/slow.png"))
    responses = await asyncio.gather(*(_get(http, url) for _ in range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    assert all(r.content == png() for r in responses)
    assert images.hits["/slow.png"] == 1


async def test_a_url_this_server_did_not_sign_is_not_fetched(
    server: LiveServer, http: httpx.AsyncClient, images: ImageServer
) -> None:
    good = proxied(server, images.url("/photo.png"))
    signature, encoded = good.rsplit("/", 2)[1:]
    other = proxied(server, images.url("/other.png")).rsplit("/", 1)[1]
    for path in (
        f"/media/{signature}/{other}",  # a signature for another URL
        f"/media/{'A' * len(signature)}/{encoded}",
        f"/media/{signature}/",
        f"/media/{encoded}",
    ):
        response = await _get(http, path)
        assert response.status_code == 404, path
        assert "error" in response.json()
    assert (await _get(http, f"/media/{'A' * 22}/{encoded}")).json() == {
        "error": "no such image: the link is not one this server made"
    }
    assert sum(images.hits.values()) == 0


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/huge.png", f"larger than {MAX_BYTES} bytes"),
        ("/endless.png", f"larger than {MAX_BYTES} bytes"),
        ("/drawing.svg", "SVG images are not proxied"),
        ("/fake.png", "the content is not a JPEG, PNG, GIF, WebP or AVIF image"),
        ("/page.html", "sent text/html, not a JPEG"),
        ("/missing.png", "answered 404"),
    ],
)
async def test_what_is_not_a_small_image_is_refused(
    server: LiveServer, http: httpx.AsyncClient, images: ImageServer, path: str, message: str
) -> None:
    response = await _get(http, proxied(server, images.url(path)))
    assert response.status_code == 502
    assert message in response.json()["error"]
    assert response.headers["cache-control"] == "no-store"
    assert images.hits[path] == 1


async def test_a_slow_remote_gets_a_quick_502(
    server: LiveServer, http: httpx.AsyncClient, images: ImageServer
) -> None:
    media_proxy(server).timeout = 0.3
    try:
        started = time.monotonic()
        response = await _get(http, proxied(server, images.url("/slow.png")))
        elapsed = time.monotonic() - started
    finally:
        media_proxy(server).timeout = 8.0
    assert response.status_code == 502
    assert "did not answer within 0.3 s" in response.json()["error"]
    assert elapsed < 2.0


async def test_a_failure_is_remembered_briefly_then_tried_again(
    server: LiveServer, http: httpx.AsyncClient, images: ImageServer
) -> None:
    proxy = media_proxy(server)
    url = proxied(server, images.url("/flaky.png"))
    proxy.failure_ttl = 0.3
    try:
        first = await _get(http, url)
        second = await _get(http, url)  # within the failure's time: not asked again
        assert (first.status_code, second.status_code) == (502, 502)
        assert "answered 503" in second.json()["error"]
        assert images.hits["/flaky.png"] == 1
        deadline = time.monotonic() + 5
        while (later := await _get(http, url)).status_code != 200:
            assert time.monotonic() < deadline, later.text
            await asyncio.sleep(0.05)
    finally:
        proxy.failure_ttl = 30.0
    assert later.content == png()
    assert images.hits["/flaky.png"] == 2


async def test_private_addresses_are_refused_unless_allowed(
    images: ImageServer, tmp_path: Path
) -> None:
    from backchannel.db.migrate import upgrade_async

    database = f"sqlite+aiosqlite:///{tmp_path / 'strict.db'}"
    await upgrade_async(database)
    async with (
        private_fetching_live(database, "", tmp_path, http_allow_private=False) as strict,
        httpx.AsyncClient(base_url=strict.base_url) as http,
    ):
        assert isinstance(strict.services.settings, Settings)
        assert strict.services.settings.http_allow_private is False
        response = await _get(http, proxied(strict, images.url("/photo.png")))
    assert response.status_code == 403
    assert (
        "127.0.0.1 resolves to 127.0.0.1, which is not a public address"
        in (response.json()["error"])
    )
    assert images.hits["/photo.png"] == 0
