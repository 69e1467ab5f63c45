"""The pages over HTTP (no browser): what they show, who may see them, CSRF on
cookie-authenticated writes, organiser forms and walls, and the catalogs."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

import backchannel.web
from support_web import PASSWORD, auth


@asynccontextmanager
async def _signed_in(server: Any, username: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        response = await client.post(
            "/auth/login", data={"username": username, "password": PASSWORD, "next": "/"}
        )
        assert response.status_code == 303 and response.headers["location"] == "/"
        yield client


def _csrf(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match
    return match.group(1)


async def test_event_page_shows_hashtag_schedule_and_intro_without_js(site: Any) -> None:
    await site.create_event("dsd26")
    post = await site.post("Hello <b>hall</b>")
    page = await site.http.get(f"/events/{site.slug}")
    assert page.status_code == 200
    html = page.text
    assert "#dsd26</h1>" in html and "#dsd26alias" in html
    assert "Keynote: skills for everyone" in html and "#dsd26keynote" in html
    assert "From Mastodon and the Fediverse" in html and "From Bluesky" in html
    assert f'data-id="{post["id"]}"' in html and "Hello &lt;b&gt;hall&lt;/b&gt;" in html
    assert "<svg" in html  # the QR code, inline


async def test_unknown_event_is_a_404_page(http: Any) -> None:
    response = await http.get("/events/nope/wall")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


async def test_wall_page_takes_layout_theme_and_tag_from_the_query(site: Any) -> None:
    await site.create_event("dsd26")
    keynote = await site.post("on topic #dsd26keynote")
    other = await site.post("elsewhere")
    response = await site.http.get(
        f"/events/{site.slug}/wall?layout=spotlight&theme=event&accent=ff0000&tag=dsd26keynote"
    )
    html = response.text
    assert "layout-spotlight" in html and "theme-event" in html
    assert "/theme.css?accent=ff0000" in html
    assert f'data-id="{keynote["id"]}"' in html and f'data-id="{other["id"]}"' not in html
    css = await site.http.get("/theme.css?accent=ff0000&background=ffffff")
    assert "--accent: #ff0000" in css.text and "--fg: #111111" in css.text


async def test_console_needs_a_moderator(site: Any, server: Any) -> None:
    await site.create_event("dsd26")
    anonymous = await site.http.get(f"/events/{site.slug}/moderate")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/auth/login")
    await site.token("eve")
    async with _signed_in(server, "eve") as eve:
        assert (await eve.get(f"/events/{site.slug}/moderate")).status_code == 403
    await site.token("mod", "moderator")
    async with _signed_in(server, "mod") as mod:
        assert (await mod.get(f"/events/{site.slug}/moderate")).status_code == 200


async def test_cookie_writes_need_the_csrf_token(site: Any, server: Any) -> None:
    await site.create_event("dsd26")
    post = await site.post("to hide")
    await site.token("mod", "moderator")
    async with _signed_in(server, "mod") as mod:
        url = f"/api/events/{site.slug}/posts/{post['id']}/hide"
        refused = await mod.post(url)
        assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["error"]
        wrong = await mod.post(url, headers={"X-CSRF-Token": "guess"})
        assert wrong.status_code == 403
        token = _csrf((await mod.get(f"/events/{site.slug}/moderate")).text)
        done = await mod.post(url, headers={"X-CSRF-Token": token})
        assert done.status_code == 200 and done.json()["moderation"]["state"] == "hidden"
        # Reads need no token, and bearer tokens never did.
        assert (await mod.get(f"/api/events/{site.slug}/queue")).status_code == 200
    bearer = await site.http.post(
        f"/api/events/{site.slug}/posts/{post['id']}/approve",
        headers=auth(await site.token("organiser", "organiser")),
    )
    assert bearer.status_code == 200


async def test_walls_api_and_a_room_wall(site: Any) -> None:
    await site.create_event("dsd26")
    organiser = auth(await site.token("organiser", "organiser"))
    body = {
        "name": "Hall A",
        "tags": ["#DSD26Keynote"],
        "layout": "masonry",
        "theme": "event",
        "accent": "#FFCC00",
    }
    created = await site.http.post(f"/api/events/{site.slug}/walls", json=body, headers=organiser)
    assert created.status_code == 201, created.text
    wall = created.json()
    assert wall["tags"] == ["dsd26keynote"] and wall["accent"] == "#ffcc00"
    attendee = auth(await site.token("anna"))
    denied = await site.http.patch(f"/api/walls/{wall['id']}", json={"name": "x"}, headers=attendee)
    assert denied.status_code == 403
    bad = await site.http.post(
        f"/api/events/{site.slug}/walls",
        json={"name": "x", "logo_url": "javascript:1"},
        headers=organiser,
    )
    assert bad.status_code == 422
    keynote = await site.post("on topic #dsd26keynote")
    page = (await site.http.get(f"/walls/{wall['id']}")).text
    assert "layout-masonry" in page and f'data-id="{keynote["id"]}"' in page
    assert (await site.http.get(f"/api/events/{site.slug}/walls")).json()[0]["name"] == "Hall A"
    gone = await site.http.delete(f"/api/walls/{wall['id']}", headers=organiser)
    assert gone.status_code == 204
    assert (await site.http.get(f"/walls/{wall['id']}")).status_code == 404


async def test_an_organiser_creates_an_event_in_one_form(site: Any, server: Any) -> None:
    await site.token("organiser", "organiser")
    async with _signed_in(server, "organiser") as client:
        form = (await client.get("/organise/new")).text
        fields = {
            "csrf_token": _csrf(form),
            "name": "Work Out Loud",
            "primary_tag": "#WOL26",
            "aliases": "wol #workoutloud",
            "starts_at": "2026-05-14T09:00",
            "ends_at": "2026-05-14T18:00",
            "timezone": "Europe/Berlin",
            "languages": "de",
            "moderation_mode": "approve_first",
            "description": "",
            "s0_title": "Circle 1",
            "s0_speakers": "A, B",
            "s0_room": "R1",
            "s0_starts_at": "2026-05-14T10:00",
            "s0_ends_at": "2026-05-14T11:00",
            "s0_tag": "wolc1",
            "s1_title": "",
            "s1_speakers": "",
            "s1_room": "",
            "s1_starts_at": "",
            "s1_ends_at": "",
            "s1_tag": "",
        }
        created = await client.post("/organise/new", data=fields)
        assert (
            created.status_code == 303 and created.headers["location"] == "/organise/events/wol26"
        )
        event = (await client.get("/api/events/wol26")).json()
        assert event["aliases"] == ["wol", "workoutloud"] and event["languages"] == ["de"]
        assert event["sessions"][0]["starts_at"] == "2026-05-14T08:00:00Z"
        assert event["moderation_mode"] == "approve_first"
        forged = await client.post("/organise/new", data={**fields, "csrf_token": "x"})
        assert forged.status_code == 422
        edit = await client.get("/organise/events/wol26")
        assert "Circle 1" in edit.text and 'value="wol workoutloud"' in edit.text


def test_every_compiled_catalog_matches_its_po() -> None:
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    locales = Path(backchannel.web.__file__).parent / "locales"
    catalogs = list(locales.glob("*/LC_MESSAGES/messages.po"))
    assert catalogs
    for po_path in catalogs:
        with po_path.open("rb") as f:
            po = {m.id: m.string for m in read_po(f) if m.id and m.string and not m.fuzzy}
        with po_path.with_suffix(".mo").open("rb") as f:
            mo = {m.id: m.string for m in read_mo(f) if m.id}
        assert po == mo, f"{po_path.with_suffix('.mo')} is stale: run pybabel compile"
        assert all(po.values()), f"{po_path} has untranslated messages"
