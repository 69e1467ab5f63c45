"""Walls, the event page, the columns' JSON and the wall's stream show remote images
through ``/media/``; the Mastodon API keeps giving apps the original URLs."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx

from support import LiveServer
from support_media import ImageServer, png, proxied
from support_sse import SSEClient
from support_web import Site


class _ImageSources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources += [value or "" for name, value in attrs if name == "src"]


def image_sources(html: str) -> list[str]:
    parser = _ImageSources()
    parser.feed(html)
    return parser.sources


async def _remote_post(site: Site, images: ImageServer, n: int = 1) -> str:
    return await site.ingest(
        source="mastodon",
        source_uri=f"https://social.example/statuses/{n}",
        url=f"https://social.example/@bob/{n}",
        author={
            "acct": "bob@social.example",
            "display_name": "Bob",
            "avatar_url": images.url("/avatar-bob.png"),
            "source": "mastodon",
        },
        content_html=f"<p>The slides, with a photo #{site.tag}</p>",
        media=[
            {
                "url": images.url("/photo.png"),
                "preview_url": images.url("/tiny.jpg"),
                "description": "The stage",
            }
        ],
    )


async def test_pages_show_remote_images_through_the_proxy(
    server: LiveServer, http: httpx.AsyncClient, images: ImageServer
) -> None:
    site = Site(server, http)
    await site.create_event("media")
    await _remote_post(site, images)
    avatar = proxied(server, images.url("/avatar-bob.png"))
    preview = proxied(server, images.url("/tiny.jpg"))

    for page in (f"/events/{site.slug}/wall", f"/events/{site.slug}"):
        response = await http.get(page)
        assert response.status_code == 200
        sources = image_sources(response.text)
        assert avatar in sources and preview in sources, page
        assert not [s for s in sources if s.startswith(images.base_url)], page
    # What the pages point to is the image, fetched by this server.
    assert (await http.get(avatar)).content == png()
    assert images.hits["/avatar-bob.png"] == 1


async def test_the_post_json_carries_proxied_urls_beside_the_originals(
    server: LiveServer, http: httpx.AsyncClient, images: ImageServer
) -> None:
    site = Site(server, http)
    await site.create_event("media")
    async with SSEClient(server.base_url, f"/api/streams/events/{site.slug}/wall") as wall:
        post_id = await _remote_post(site, images)
        [frame] = await wall.wait_frames(1)
    streamed = frame.json()
    [listed] = (await http.get(f"/api/tags/{site.tag}/timeline")).json()

    for post in (streamed, listed):  # what the wall's script and the columns read
        assert post["id"] == post_id
        [medium] = post["media_attachments"]
        assert medium["url"] == images.url("/photo.png")
        assert medium["proxy_url"] == proxied(server, images.url("/photo.png"))
        assert medium["preview_url"] == images.url("/tiny.jpg")
        assert medium["preview_proxy_url"] == proxied(server, images.url("/tiny.jpg"))
        assert post["account"]["avatar"] == images.url("/avatar-bob.png")
        assert post["account"]["avatar_proxy_url"] == proxied(server, images.url("/avatar-bob.png"))
    assert sum(images.hits.values()) == 0  # nothing is fetched before a wall asks


async def test_the_mastodon_api_gives_apps_the_original_urls(
    server: LiveServer, http: httpx.AsyncClient, images: ImageServer
) -> None:
    site = Site(server, http)
    await site.create_event("media")
    await _remote_post(site, images)

    response = await http.get(f"/api/v1/timelines/tag/{site.tag}")
    assert response.status_code == 200, response.text
    [status] = response.json()
    assert "/media/" not in response.text
    assert status["account"]["avatar"] == images.url("/avatar-bob.png")
    [medium] = status["media_attachments"]
    assert medium["remote_url"] == images.url("/photo.png")
    assert medium["preview_url"] == images.url("/tiny.jpg")
