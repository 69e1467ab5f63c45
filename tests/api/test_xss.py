"""Script payloads come out inert in every field that reaches a page or an API.

``content`` is HTML a page inserts as HTML, so it must hold no script, no event
handler and no ``javascript:`` link. Every other text field (``text``, names,
``spoiler_text``, alt text, event name and description) is plain text: in JSON it is
inert as it is, and it is returned exactly as given so a client can show it; pages
and clients escape it when they render it. URL fields hold http(s) URLs or nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
JS_URL = "javascript:alert(1)"


def assert_safe_url(value: str | None) -> None:
    assert value is None or value.startswith(("http://", "https://")), value


async def every_view(api: Any, post_id: str, *, tag: str, slug: str, acct: str) -> list[Any]:
    """The post as each API that shows it returns it: by id, tag, event, wall, author."""
    views = [await api.get_json(f"/api/posts/{post_id}")]
    for timeline in (
        await api.tag_timeline(tag),
        await api.timeline(slug),
        (await api.wall(slug))["posts"],
        await api.get_json(f"/api/accounts/{acct}/timeline"),
    ):
        matching = [p for p in timeline if p["id"] == post_id]
        assert len(matching) == 1, timeline
        views.extend(matching)
    return views


async def test_script_in_a_post_written_here_is_escaped_everywhere(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "xss")
    token = await api.user("mallory")
    status = (
        f"{SCRIPT} {IMG} #xss\n"
        f'{JS_URL} and https://ok.example/"onmouseover="alert(1)" <a href=\'{JS_URL}\'>x</a>'
    )
    created = await api.post(
        token,
        status,
        spoiler_text=f"CW {SCRIPT}",
        media=[
            {
                "url": "https://media.example/cat.png",
                "preview_url": JS_URL,
                "description": f"alt {IMG}",
            }
        ],
    )
    views = await every_view(api, created["id"], tag="xss", slug="xss", acct="mallory")
    assert len(views) == 5
    for post in views:
        api.assert_inert_html(post["content"])
        # The typed payload is shown as text: escaped in the HTML …
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in post["content"]
        assert "&lt;img src=x onerror=alert(1)&gt;" in post["content"]
        # … and as typed in the plain-text fields (pages escape those; in JSON it is text).
        assert post["text"] == status
        assert post["spoiler_text"] == f"CW {SCRIPT}"
        [media] = post["media_attachments"]
        assert media["description"] == f"alt {IMG}"
        # The javascript: preview was dropped; the preview falls back to the safe URL.
        assert media["preview_url"] == "https://media.example/cat.png"
        assert_safe_url(post["url"])
        assert_safe_url(post["account"]["url"])


@pytest.mark.parametrize(
    "media",
    [
        {"url": JS_URL},
        {"url": "data:text/html,<script>alert(1)</script>"},
        {"url": "//evil.example/x.png"},
    ],
    ids=["javascript", "data", "scheme-relative"],
)
async def test_an_unsafe_media_url_is_refused_by_the_native_api(
    api: Any, media: dict[str, Any]
) -> None:
    token = await api.user("mallory")
    response = await api.http.post(
        "/api/posts",
        json={"status": "look #xssmedia", "media": [media]},
        headers=api.auth(token),
    )
    assert response.status_code == 422, response.text
    assert any(d["field"].startswith("media") for d in response.json()["details"])
    assert await api.tag_timeline("xssmedia") == []


async def test_remote_html_is_sanitised_and_its_author_fields_are_made_safe(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "xss")
    html = (
        f"<p>Hello {SCRIPT}{IMG}"
        f'<a href="{JS_URL}">click</a> '
        '<a href="https://ok.example/" onclick="alert(1)" style="x">ok</a> '
        '<svg onload="alert(1)"></svg><iframe src="https://evil.example"></iframe>'
        '<a href="JaVaScRiPt:alert(1)">again</a> <a href="data:text/html,x">data</a> '
        '<span onmouseover="alert(1)">#xss</span></p>'
    )
    result = await api.ingest(
        source_uri="https://social.example/statuses/1",
        url=JS_URL,
        content_html=html,
        spoiler_text=SCRIPT,
        author={
            "acct": "mallory@social.example",
            "display_name": f"Mallory {SCRIPT}",
            "avatar_url": JS_URL,
            "profile_url": "javascript:alert(document.cookie)",
            "source": "mastodon",
        },
        media=[{"url": "https://social.example/m.png", "description": IMG}],
    )
    assert result.outcome == "created"
    views = await every_view(
        api, str(result.post.id), tag="xss", slug="xss", acct="mallory@social.example"
    )
    for post in views:
        content = post["content"]
        api.assert_inert_html(content)
        # Scripts, images, SVG and frames go with what was inside them.
        for gone in ("<script", "alert", "onerror", "onclick", "onload", "javascript", "data:"):
            assert gone not in content.lower(), content
        hrefs = [attrs.get("href") for tag, attrs in api.elements(content) if tag == "a"]
        assert "https://ok.example/" in hrefs
        assert [h for h in hrefs if h is not None] == ["https://ok.example/"]
        # The links whose href was dropped keep their text.
        assert "click" in post["text"] and "again" in post["text"]
        assert post["url"] is None
        account = post["account"]
        assert account["display_name"] == f"Mallory {SCRIPT}"
        assert account["avatar"] is None
        assert account["url"] is None
        assert post["spoiler_text"] == SCRIPT
        assert post["media_attachments"][0]["description"] == IMG
    account = await api.get_json("/api/accounts/mallory@social.example")
    assert (account["avatar"], account["url"]) == (None, None)


async def test_a_remote_post_with_an_unsafe_media_url_cannot_enter(api: Any) -> None:
    # A connector builds a PostIn; a javascript: media URL makes it invalid, so the
    # post never reaches ingest.
    with pytest.raises(ValidationError, match="media"):
        await api.ingest(
            source_uri="https://social.example/statuses/2",
            content_html="<p>#xssmedia</p>",
            media=[{"url": JS_URL}],
        )
    assert await api.tag_timeline("xssmedia") == []


async def test_names_and_event_texts_are_returned_as_plain_text(api: Any) -> None:
    admin = await api.user("root", "admin")
    response = await api.http.post(
        "/api/accounts",
        json={
            "username": "eve",
            "password": "correct-horse-battery",
            "role": "organiser",
            "display_name": f"Eve {IMG}\u202e",
        },
        headers=api.auth(admin),
    )
    assert response.status_code == 201, response.text
    # Bidi overrides are stripped; the rest is text.
    assert response.json()["display_name"] == f"Eve {IMG}"
    token = (
        await api.http.post(
            "/api/auth/token", json={"username": "eve", "password": "correct-horse-battery"}
        )
    ).json()["access_token"]
    event = await api.create_event(
        token, "xssevent", name=f"Conf {SCRIPT}", description=f"About {IMG}"
    )
    fetched = await api.get_json("/api/events/xssevent")
    for data in (event, fetched):
        assert data["name"] == f"Conf {SCRIPT}"
        assert data["description"] == f"About {IMG}"
    post = await api.post(token, "hi #xssevent")
    assert post["account"]["display_name"] == f"Eve {IMG}"
    api.assert_inert_html(post["content"])
