"""Screenshots of every page with a realistic event, for people to look at
(test-artifacts/screenshots/, not committed)."""

from __future__ import annotations

from typing import Any

import pytest

from support_web import screenshot, sign_in, wait_for

pytestmark = pytest.mark.slow

VOICES = [
    (
        "mastodon",
        "anna@social.example",
        "Anna Berger",
        "Good morning from the hall! Who else is here?",
    ),
    (
        "bluesky",
        "mia.bsky.social@bsky.app",
        "Mia Schulz",
        "The keynote says digital skills are for everyone — agreed, but who pays for the training?",
    ),
    (
        "feed",
        "blog@ahoi.example",
        "Ahoi Blog",
        "Longer thoughts on today: why one hashtag matters more than the perfect app.",
    ),
    (
        "mastodon",
        "jonas@norden.example",
        "Jonas Petersen",
        "Mir fehlt die Perspektive der Schulen in dieser Diskussion.",
    ),
    (
        "mastodon",
        "lena@vogt.example",
        "Lena Vogt",
        "Slides are online, and they have alt text. Thank you!",
    ),
]


async def _fill(site: Any) -> None:
    base = site.server.base_url
    avatar = f"{base}/static/avatar.svg"
    tag_url = f"https://x.example/tags/{site.tag}"
    for n, (source, acct, name, text) in enumerate(VOICES):
        await site.ingest(
            source=source,
            source_uri=f"https://{acct.split('@')[-1]}/p/{n}",
            url=f"https://{acct.split('@')[-1]}/p/{n}",
            author={"acct": acct, "display_name": name, "avatar_url": avatar, "source": source},
            content_html=f"<p>{text} <a href='{tag_url}' class='hashtag'>#{site.tag}</a></p>",
        )
    await site.ingest(
        source="mastodon",
        source_uri="https://social.example/p/photo",
        author={"acct": "tom@social.example", "display_name": "Tom Becker", "source": "mastodon"},
        content_html=f"<p>The stage right now #{site.tag}</p>",
        media=[
            {
                "url": f"{base}/static/favicon.svg",
                "description": "A stage with a big hashtag on the screen",
            }
        ],
    )
    await site.ingest(
        source="bluesky",
        source_uri="at://did:plc:x/app.bsky.feed.post/1",
        author={"acct": "kim.bsky.social@bsky.app", "display_name": "Kim", "source": "bluesky"},
        content_html=f"<p>Spoilers for the quiz #{site.tag}</p>",
        spoiler_text="Quiz answers",
    )
    await site.ingest(
        source="mastodon",
        source_uri="https://social.example/p/sensitive",
        author={"acct": "ute@social.example", "display_name": "Ute", "source": "mastodon"},
        content_html=f"<p>Lunch was … memorable #{site.tag}</p>",
        sensitive=True,
        media=[{"url": f"{base}/static/favicon.svg", "description": "A plate of food"}],
    )
    pinned = await site.post(
        "Coffee is in the foyer. The panel starts at 11 in Hall B.", author="organiser"
    )
    await site.decide(pinned["id"], "pin")
    await site.post(f"Great keynote! #{site.tag}keynote", author="ruth")


async def test_screenshots_of_every_page(site: Any, context: Any, browser: Any) -> None:
    await site.create_event("dsd26", languages=["en", "de"])
    await _fill(site)
    await site.token("mod", "moderator")
    page = await context.new_page()

    await page.goto(f"/events/{site.slug}")
    await screenshot(page, "event", full_page=True)
    await page.set_viewport_size({"width": 390, "height": 844})
    await screenshot(page, "event-phone")
    await page.goto(f"/events/{site.slug}?lang=de")
    await screenshot(page, "event-de")
    await page.set_viewport_size({"width": 794, "height": 1123})
    await page.goto(f"/events/{site.slug}/poster?lang=en")
    await screenshot(page, "poster", full_page=True)
    await page.set_viewport_size({"width": 1920, "height": 1080})
    await page.goto(f"/events/{site.slug}/slide")
    await screenshot(page, "slide")

    for width, height in ((1920, 1080), (3840, 2160)):
        await page.set_viewport_size({"width": width, "height": height})
        await page.goto(f"/events/{site.slug}/wall")
        await wait_for(page, ".wall-posts .post")
        await page.wait_for_timeout(1800)  # let arrival animations finish
        await screenshot(page, f"wall-{width}x{height}")
    await page.set_viewport_size({"width": 1920, "height": 1080})
    for query in (
        "layout=masonry&theme=light",
        "layout=spotlight&theme=event&accent=ffcc00&background=123456",
    ):
        await page.goto(f"/events/{site.slug}/wall?{query}")
        await page.wait_for_timeout(500)
        await screenshot(page, "wall-" + query.split("&")[0].split("=")[1])

    console = await context.new_page()
    await console.set_viewport_size({"width": 1400, "height": 1000})
    await sign_in(console, "mod", f"/events/{site.slug}/moderate")
    await console.check("input[name=filter][value=all]")
    await wait_for(console, ".queue-item")
    await console.wait_for_timeout(1500)
    await screenshot(console, "console")
    await console.set_viewport_size({"width": 390, "height": 844})
    await screenshot(console, "console-phone")

    columns = await context.new_page()
    await columns.goto(f"/events/{site.slug}/columns")
    await wait_for(columns, ".column .post")
    await columns.wait_for_timeout(1000)
    await screenshot(columns, "columns")
