"""The pages in a real Chromium against a live server: the wall goes live, moderation
reaches it, hostile posts stay text, columns follow a session, German is German."""

from __future__ import annotations

from typing import Any

import pytest

from support import LiveServer
from support_web import sign_in, visible_ids, wait_for

pytestmark = pytest.mark.slow


async def test_a_post_appears_on_the_open_wall(site: Any, context: Any) -> None:
    await site.create_event("dsd26")
    page = await context.new_page()
    await page.goto(f"/events/{site.slug}/wall")
    await page.wait_for_function("document.querySelector('#status').hidden")

    post = await site.post("Good morning from the hall!")

    await wait_for(page, f".wall-posts .post[data-id='{post['id']}']")
    card = page.locator(f".wall-posts .post[data-id='{post['id']}']")
    assert "Good morning from the hall!" in await card.inner_text()
    assert await card.locator(".handle").inner_text() == "@anna"


async def test_hiding_in_the_console_takes_the_post_off_the_wall(
    site: Any, context: Any, server: LiveServer
) -> None:
    await site.create_event("dsd26")
    await site.token("mod", "moderator")
    wall = await context.new_page()
    await wall.goto(f"/events/{site.slug}/wall")
    console = await context.new_page()
    await sign_in(console, "mod", f"/events/{site.slug}/moderate")
    await console.check("input[name=filter][value=all]")
    post = await site.post("This one has to go")
    item = f".queue-item[data-id='{post['id']}']"
    await wait_for(wall, f".wall-posts .post[data-id='{post['id']}']")
    await wait_for(console, item)

    await console.click(f"{item} .post-head")  # select it, then the shortcut
    await console.keyboard.press("h")

    await wall.wait_for_selector(f".post[data-id='{post['id']}']", state="detached", timeout=5000)
    await console.wait_for_selector(f"{item}.state-hidden", timeout=5000)
    assert post["id"] not in await visible_ids(wall)


PWN = "window.__pwned = 1"
SCRIPT = f"<script>{PWN}</script>"
ONERROR = f'<img src=x onerror="{PWN}">'
JS_URL = f"javascript:{PWN}"


async def _hostile_posts(site: Any) -> tuple[str, str]:
    base = site.server.base_url
    author = {
        "acct": "mallory@evil.example",
        "display_name": f"Mallory {SCRIPT}{ONERROR}",
        "avatar_url": JS_URL,
        "profile_url": JS_URL,
        "source": "mastodon",
    }
    plain = await site.ingest(
        source="mastodon",
        source_uri="https://evil.example/1",
        url=JS_URL,
        author=author,
        content_html=(
            f'<p>{SCRIPT} {ONERROR} <a href="{JS_URL}">click me</a>'
            f' <a href="https://ok.example/" onclick="{PWN}">fine link</a>'
            f" &lt;script&gt;shown as text&lt;/script&gt; #{site.tag}</p>"
        ),
        media=[{"url": f"{base}/static/avatar.svg", "description": f"alt {SCRIPT}{ONERROR}"}],
    )
    warned = await site.ingest(
        source="mastodon",
        source_uri="https://evil.example/2",
        author=author,
        content_html=f"<p>behind the warning #{site.tag}</p>",
        spoiler_text=f"cw {SCRIPT}{ONERROR}",
    )
    return plain, warned


async def _assert_inert(page: Any, post_ids: tuple[str, str]) -> None:
    for post_id in post_ids:
        await wait_for(page, f".post[data-id='{post_id}']")
    await page.wait_for_timeout(300)  # give any planted handler its chance to fire
    assert await page.evaluate("window.__pwned") is None
    assert await page.locator(".post script").count() == 0
    assert await page.locator("[href^='javascript:' i], [src^='javascript:' i]").count() == 0
    assert await page.locator(".post [onclick], .post [onerror]").count() == 0
    card = page.locator(f".post[data-id='{post_ids[0]}']")
    assert SCRIPT in await card.locator(".name").inner_text()
    assert "<script>shown as text</script>" in await card.locator(".content").inner_text()
    assert await card.locator(".medium img").get_attribute("alt") == f"alt {SCRIPT}{ONERROR}"
    warned = page.locator(f".post[data-id='{post_ids[1]}']")
    assert f"cw {SCRIPT}{ONERROR}" in await warned.locator(".cw-text").inner_text()


async def test_hostile_posts_show_as_text_and_run_nothing(site: Any, context: Any) -> None:
    await site.create_event("dsd26")
    dialogs: list[str] = []
    context.on("dialog", lambda dialog: dialogs.append(dialog.message))
    live = await context.new_page()
    await live.goto(f"/events/{site.slug}/wall")
    await live.wait_for_function("document.querySelector('#status').hidden")

    ids = await _hostile_posts(site)

    await _assert_inert(live, ids)  # rendered by the script, from the stream
    # On the wall the warning hides the body.
    assert await live.locator(f".post[data-id='{ids[1]}'] .content").count() == 0
    rendered = await context.new_page()
    await rendered.goto(f"/events/{site.slug}/wall")
    await _assert_inert(rendered, ids)  # rendered by the server
    reading = await context.new_page()
    await reading.goto(f"/events/{site.slug}")
    await _assert_inert(reading, ids)
    assert dialogs == []


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/events/{slug}",
        "/events/{slug}/wall",
        "/events/{slug}/poster",
        "/events/{slug}/slide",
        "/columns",
        "/auth/login",
        "/static/wall.js",
    ],
)
async def test_pages_send_a_csp_without_inline_scripts(site: Any, path: str) -> None:
    await site.create_event("dsd26")
    response = await site.http.get(path.format(slug=site.slug))
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert directives["object-src"] == "'none'"


async def test_a_column_for_a_session_tag_shows_its_new_post(site: Any, context: Any) -> None:
    await site.create_event("dsd26")
    page = await context.new_page()
    await page.goto("/columns")
    for tag in (site.tag, f"{site.tag}keynote"):
        await page.select_option("#column-kind", "tag")
        await page.fill("#column-name", f"#{tag}")
        await page.click("#add-column button[type=submit]")
    await page.wait_for_function(
        "document.querySelectorAll('.column').length === 2"
        " && document.querySelector('#columns-status').textContent === 'Live'"
    )
    session_column = page.locator(".column").nth(1)
    assert await session_column.locator("h2").inner_text() == f"#{site.tag}keynote"

    post = await site.post_anywhere(f"Great keynote! #{site.tag}keynote")

    await wait_for(page, f".column:nth-child(2) .post[data-id='{post['id']}']")
    assert await page.locator(f".column:nth-child(1) .post[data-id='{post['id']}']").count() == 0
    # Remembered in this browser: a reload brings the same columns back.
    await page.reload()
    await page.wait_for_selector(f".column:nth-child(2) .post[data-id='{post['id']}']")


async def test_the_german_ui_is_german(site: Any, context: Any) -> None:
    await site.create_event("dsd26")
    page = await context.new_page()
    await page.goto(f"/events/{site.slug}?lang=de")
    assert await page.locator("html").get_attribute("lang") == "de"
    assert await page.locator("#how-to-title").inner_text() == "So machst du mit"
    assert "Nutze #dsd26 in allem" in await page.locator(".how-to .lead").inner_text()
    # The switch is remembered: the wall is German without asking again.
    await page.goto(f"/events/{site.slug}/wall")
    assert "Mach mit: poste mit #dsd26" in await page.locator(".join-cta").inner_text()
    assert await page.locator(".session-now dt").inner_text() == "JETZT"
    await page.goto(f"/events/{site.slug}?lang=en")
    assert await page.locator("#how-to-title").inner_text() == "How to take part"


async def test_the_event_language_is_the_default(site: Any, context: Any) -> None:
    await site.create_event("dsd26", languages=["de", "en"])
    page = await context.new_page()
    await page.goto(f"/events/{site.slug}/wall")
    assert await page.locator("html").get_attribute("lang") == "de"
