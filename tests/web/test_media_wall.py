"""In a real Chromium: the wall shows a remote post's image and avatar, and every one
of them came through the server's /media/ proxy, not from the remote server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from conftest import redis_url_or_unavailable
from support import LiveServer
from support_media import ImageServer, image_server, private_fetching_live
from support_web import screenshot, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def live(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    """This module's live app may fetch from 127.0.0.1, where the image server runs."""
    redis_url = await redis_url_or_unavailable() if database_url.startswith("postgresql") else ""
    async with private_fetching_live(
        database_url, redis_url, tmp_path_factory.mktemp("live")
    ) as server:
        yield server


@pytest.fixture
async def images() -> AsyncIterator[ImageServer]:
    async with image_server() as server:
        yield server


async def _loaded(page: Any, selector: str) -> dict[str, Any]:
    """The ``src`` and natural width of an image once the browser decoded it."""
    await page.wait_for_function(
        "s => { const i = document.querySelector(s); return i && i.complete"
        " && i.naturalWidth > 0; }",
        arg=selector,
        timeout=5000,
    )
    found: dict[str, Any] = await page.eval_on_selector(
        selector, "i => ({src: i.src, width: i.naturalWidth})"
    )
    return found


async def test_the_wall_shows_remote_images_through_the_proxy(
    site: Any, context: Any, images: ImageServer
) -> None:
    await site.create_event("media")
    page = await context.new_page()
    await page.goto(f"/events/{site.slug}/wall")
    await page.wait_for_function("document.querySelector('#status').hidden")

    post_id = await site.ingest(
        source="mastodon",
        source_uri="https://social.example/statuses/1",
        author={
            "acct": "bob@social.example",
            "display_name": "Bob",
            "avatar_url": images.url("/avatar-bob.png"),
            "source": "mastodon",
        },
        content_html=f"<p>A photo of the stage #{site.tag}</p>",
        media=[{"url": images.url("/tiny.jpg"), "description": "The stage"}],
    )

    card = f".wall-posts .post[data-id='{post_id}']"
    await wait_for(page, card)
    proxy = f"{site.server.base_url}/media/"
    for selector, width in ((f"{card} img.avatar", 6), (f"{card} .medium img", 8)):
        image = await _loaded(page, selector)  # rendered by the script, from the stream
        assert image["src"].startswith(proxy)
        assert image["width"] == width
    await screenshot(page, "media-wall")

    await page.reload()  # rendered by the server
    assert (await _loaded(page, f"{card} .medium img"))["src"].startswith(proxy)
    # The remote server only ever talked to backchannel, once per image.
    assert images.hits == {"/avatar-bob.png": 1, "/tiny.jpg": 1}
    assert all(agent.startswith("backchannel/") for agent in images.user_agents)
