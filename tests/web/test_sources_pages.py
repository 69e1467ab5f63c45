"""The sources pages: an organiser adds Bluesky, Mastodon servers and feeds (one by
one or from OPML), switches and removes them and sees their health; secrets never
come back; problems are shown with what was typed; only the event's managers change
anything; German is German; and in Chromium the health refreshes by itself."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import support
from support import LiveServer
from support_web import PASSWORD, sign_in, wait_for

TOKEN = "s3cret-mastodon-token"
UNAUTHORIZED = (
    "mastodon.social requires sign-in for tag timelines: add an access token with "
    "read:statuses (Preferences → Development → New application) and try again."
)
OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>Speakers</title></head><body>
  <outline text="Speakers">
    <outline type="rss" text="Ada" xmlUrl="https://ada.example/feed.xml"/>
    <outline type="rss" text="Grace" xmlUrl="https://grace.example/atom"/>
  </outline>
</body></opml>"""


@pytest.fixture(scope="module")
async def live(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    """The live server without running connectors: nothing here reaches the network,
    and the health a test writes stays as written."""
    from conftest import redis_url_or_unavailable

    redis_url = await redis_url_or_unavailable() if database_url.startswith("postgres") else ""
    settings = support.test_settings(
        tmp_path_factory.mktemp("live"), database_url, redis_url, run_connectors=False
    )
    async with support.serve_app(settings) as server:
        yield server


class FakeSupervisor:
    """Stands in for the connectors' supervisor: counts how often it is woken."""

    def __init__(self) -> None:
        self.woken = 0

    def wake(self) -> None:
        self.woken += 1


@pytest.fixture
def supervisor(server: LiveServer) -> Any:
    fake = FakeSupervisor()
    server.services.extra["connectors"] = fake
    yield fake
    server.services.extra.pop("connectors", None)


@asynccontextmanager
async def _signed_in(server: LiveServer, username: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        response = await client.post(
            "/auth/login", data={"username": username, "password": PASSWORD, "next": "/"}
        )
        assert response.status_code == 303, response.text
        yield client


def _csrf(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match
    return match.group(1)


def _text(html: str) -> str:
    """The page's words, roughly as a reader sees them (tags out, spaces folded)."""
    visible = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", visible).split())


class Sources:
    """The sources page of the site's event, for one signed-in person."""

    def __init__(self, client: httpx.AsyncClient, slug: str) -> None:
        self.client = client
        self.url = f"/organise/events/{slug}/sources"
        self.token = ""

    async def get(self, query: str = "") -> httpx.Response:
        response = await self.client.get(self.url + query)
        if response.status_code == 200:
            self.token = _csrf(response.text)
        return response

    async def post(self, path: str = "", **fields: str) -> httpx.Response:
        if not self.token:
            await self.get()
        return await self.client.post(self.url + path, data={"csrf_token": self.token, **fields})

    async def add(self, **fields: str) -> httpx.Response:
        return await self.post(form=fields["kind"], **fields)


@asynccontextmanager
async def _organiser(site: Any, server: LiveServer, **event: Any) -> AsyncIterator[Sources]:
    await site.create_event("dsd26", **event)
    async with _signed_in(server, "organiser") as client:
        yield Sources(client, site.slug)


async def _connector_ids(server: LiveServer, slug: str) -> dict[str, str]:
    """target (or kind for Bluesky) → id, straight from the repository."""
    from backchannel.connectors import repository
    from backchannel.events import repository as events

    async with server.services.sessionmaker() as session:
        event = await events.get_by_slug(session, slug)
        assert event is not None
        found = await repository.list_for_event(session, event.id)
    return {c.target or c.kind: str(c.id) for c in found}


async def _write_health(server: LiveServer, connector_id: str, **values: Any) -> None:
    from backchannel.connectors import repository

    async def write(uow: Any) -> None:
        await repository.write_health(uow.session, [int(connector_id)], values)

    await server.services.writer.submit(write)


async def test_an_organiser_adds_each_kind_and_sees_it_listed(
    site: Any, server: LiveServer, supervisor: FakeSupervisor
) -> None:
    async with _organiser(site, server) as sources:
        first = await sources.get()
        assert first.status_code == 200 and "No sources yet" in first.text

        added = await sources.add(kind="bluesky")
        assert added.status_code == 303, added.text
        assert added.headers["location"] == sources.url + "?saved=added"
        masto = await sources.add(
            kind="mastodon", server="@olga@Social.Example", token=TOKEN, poll_seconds="45"
        )
        assert masto.status_code == 303, masto.text
        feed = await sources.add(kind="feed", url="https://blog.example/feed", match="tagged")
        assert feed.status_code == 303, feed.text
        assert supervisor.woken == 3  # once after each commit

        page = await sources.get("?saved=added")
        words = _text(page.text)
        assert "Source added." in words
        assert "Bluesky live, the whole network" in words
        assert "Mastodon https://social.example token set · every 45 s" in words
        assert "Feed https://blog.example/feed only tagged entries" in words
        assert words.count("starting") == 3
        assert TOKEN not in page.text
        # Bluesky is there once: its button is gone.
        assert "Bluesky is on the list already." in words and "Add Bluesky" not in words

        again = await sources.add(kind="mastodon", server="social.example")
        assert again.status_code == 422
        assert "This event already has this source." in _text(again.text)

        # The event's organiser page points here and counts them.
        edit = _text((await sources.client.get(f"/organise/events/{site.slug}")).text)
        assert "Sources bringing posts from elsewhere: 3." in edit


async def test_switch_off_change_the_token_and_remove(
    site: Any, server: LiveServer, supervisor: FakeSupervisor
) -> None:
    async with _organiser(site, server) as sources:
        await sources.add(kind="mastodon", server="norden.social")
        await sources.add(kind="feed", url="https://blog.example/feed")
        ids = await _connector_ids(server, site.slug)
        masto, feed = ids["https://norden.social"], ids["https://blog.example/feed"]
        assert "no token" in _text((await sources.get()).text)

        off = await sources.post(f"/{masto}", form="top", enabled="0")
        assert off.status_code == 303 and off.headers["location"].endswith("?saved=changed")
        keyed = await sources.post(f"/{masto}", form="top", token=TOKEN)
        assert keyed.status_code == 303
        page = await sources.get()
        row = _text(page.text).split("https://norden.social", 1)[1].strip()
        assert row.startswith("token set off stopped") and "Switch on" in row
        assert TOKEN not in page.text

        gone = await sources.post(f"/{feed}", form="top", remove="1")
        assert gone.status_code == 303 and gone.headers["location"].endswith("?saved=removed")
        words = _text((await sources.get("?saved=removed")).text)
        assert "Source removed." in words and "blog.example" not in words
        assert set(await _connector_ids(server, site.slug)) == {"https://norden.social"}
        assert supervisor.woken == 5

        again = await sources.post(f"/{feed}", form="top", remove="1")
        assert again.status_code == 422 and "That source is gone." in again.text


async def test_an_opml_file_registers_every_feed(site: Any, server: LiveServer) -> None:
    async with _organiser(site, server) as sources:
        await sources.get()

        async def upload(data: bytes) -> httpx.Response:
            return await sources.client.post(
                sources.url + "/opml",
                data={"csrf_token": sources.token, "form": "opml", "match": "tagged"},
                files={"file": ("subscriptions.opml", data, "text/x-opml")},
            )

        done = await upload(OPML)
        assert done.status_code == 303, done.text
        assert done.headers["location"].endswith("?saved=opml&added=2&skipped=0")
        words = _text((await sources.client.get(done.headers["location"])).text)
        assert "Feeds added: 2. Skipped: 0" in words
        assert "https://ada.example/feed.xml" in words and "https://grace.example/atom" in words
        assert words.count("only tagged entries") == 2

        twice = await upload(OPML)
        assert twice.headers["location"].endswith("?saved=opml&added=0&skipped=2")
        assert len(await _connector_ids(server, site.slug)) == 2

        bad = await upload(b"<html><body>not a list of feeds</body></html>")
        assert bad.status_code == 422
        assert "This is not a usable OPML file: this is not an OPML file" in _text(bad.text)
        # The choice made in the form survives the error.
        assert 'value="tagged" checked' in bad.text


async def test_a_bad_server_is_explained_and_the_form_keeps_what_was_typed(
    site: Any, server: LiveServer
) -> None:
    async with _organiser(site, server) as sources:
        bad = await sources.add(
            kind="mastodon", server="javascript:alert(1)", token=TOKEN, poll_seconds="20"
        )
        assert bad.status_code == 422
        words = _text(bad.text)
        assert "Server: must be a server name or an http(s) URL" in words
        assert 'value="javascript:alert(1)"' in bad.text and 'value="20"' in bad.text
        assert TOKEN not in bad.text and "type it again" in words

        slow = await sources.add(kind="mastodon", server="social.example", poll_seconds="2")
        assert slow.status_code == 422
        assert "Check every … seconds: must be at least 5" in _text(slow.text)

        feed = await sources.add(kind="feed", url="ftp://files.example/feed", title="Ada")
        assert feed.status_code == 422
        assert "Feed address: must be an absolute http(s) URL" in _text(feed.text)
        assert 'value="ftp://files.example/feed"' in feed.text and 'value="Ada"' in feed.text

        forged = await sources.client.post(
            sources.url, data={"csrf_token": "guess", "form": "bluesky", "kind": "bluesky"}
        )
        assert forged.status_code == 422 and "The form expired" in forged.text
        assert await _connector_ids(server, site.slug) == {}

        german = await sources.client.post(
            sources.url + "?lang=de",
            data={
                "csrf_token": sources.token,
                "form": "mastodon",
                "kind": "mastodon",
                "server": "x y",
            },
        )
        assert german.status_code == 422
        assert "Server: muss ein Servername oder eine http(s)-Adresse sein" in _text(german.text)


async def test_only_the_event_managers_change_sources(site: Any, server: LiveServer) -> None:
    await site.create_event("dsd26")
    owner = await site.token("organiser", "organiser")
    await site.token("other", "organiser")
    await site.token("mod")
    response = await site.http.post(
        f"/api/events/{site.slug}/moderators",
        json={"username": "mod"},
        headers={"Authorization": f"Bearer {owner}"},
    )
    assert response.status_code == 201, response.text
    url = f"/organise/events/{site.slug}/sources"

    anonymous = await site.http.get(url)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/auth/")

    async with _signed_in(server, "other") as client:
        other = Sources(client, site.slug)
        assert (await other.get()).status_code == 403
        token = _csrf((await client.get("/organise")).text)
        refused = await client.post(url, data={"csrf_token": token, "kind": "bluesky"})
        assert refused.status_code == 403

    async with _signed_in(server, "organiser") as client:
        assert (await Sources(client, site.slug).add(kind="bluesky")).status_code == 303

    async with _signed_in(server, "mod") as client:
        mod = Sources(client, site.slug)
        page = await mod.get()
        assert page.status_code == 200
        words = _text(page.text)
        assert "Bluesky" in words and "starting" in words
        assert "Only the event's owner or an admin can change its sources." in words
        assert "Add Bluesky" not in words and "Switch off" not in words
        ids = await _connector_ids(server, site.slug)
        refused = await mod.post(f"/{ids['bluesky']}", form="top", remove="1")
        assert refused.status_code == 403
    assert set(await _connector_ids(server, site.slug)) == {"bluesky"}


async def test_health_written_by_the_runtime_is_shown_in_full(
    site: Any, server: LiveServer
) -> None:
    async with _organiser(site, server) as sources:
        await sources.add(kind="mastodon", server="mastodon.social")
        ids = await _connector_ids(server, site.slug)
        now = datetime.now(UTC)
        await _write_health(
            server,
            ids["https://mastodon.social"],
            status="unauthorized",
            last_error=UNAUTHORIZED,
            last_error_at=now,
            last_post_at=now - timedelta(minutes=5),
            lag_seconds=4.2,
            counts={"received": 20, "kept": 12, "dropped": 3, "malformed": 1},
            health_at=now,
        )
        page = await sources.get()
        words = _text(page.text)
        assert "unauthorized" in words and "status-unauthorized" in page.text
        assert UNAUTHORIZED in words
        assert re.search(r"4 sec 12 3 1", words), words
        edit = _text((await sources.client.get(f"/organise/events/{site.slug}")).text)
        assert "Needing attention: 1." in edit


async def test_the_german_page(site: Any, server: LiveServer) -> None:
    async with _organiser(site, server, languages=["de"]) as sources:
        await sources.add(kind="feed", url="https://blog.example/feed")
        words = _text((await sources.get()).text)
        assert "Quellen · #dsd26" in words
        assert "Status" in words and "Letzter Beitrag" in words and "startet" in words
        assert "jeder Eintrag" in words and "Quelle hinzufügen" in words
        assert "Mastodon-Server" in words


@pytest.mark.slow
async def test_the_page_in_chromium_refreshes_health(
    site: Any, server: LiveServer, context: Any, tmp_path: Path
) -> None:
    await site.create_event("dsd26", languages=["en", "de"])
    async with _signed_in(server, "organiser") as client:
        sources = Sources(client, site.slug)
        await sources.add(kind="bluesky")
        await sources.add(kind="mastodon", server="mastodon.social", token=TOKEN)
        await sources.add(kind="mastodon", server="norden.social")
        await sources.add(kind="feed", url="https://blog.example/feed.xml", title="Ahoi Blog")
    ids = await _connector_ids(server, site.slug)
    now = datetime.now(UTC)
    await _write_health(
        server,
        ids["bluesky"],
        status="connected",
        last_post_at=now - timedelta(seconds=20),
        lag_seconds=0.8,
        counts={"kept": 214, "dropped": 18234, "malformed": 2},
    )
    await _write_health(
        server,
        ids["https://mastodon.social"],
        status="unauthorized",
        last_error=UNAUTHORIZED,
        last_error_at=now,
    )
    await _write_health(
        server,
        ids["https://norden.social"],
        status="polling",
        last_post_at=now - timedelta(minutes=3),
        lag_seconds=95,
        counts={"kept": 31, "dropped": 4},
    )
    await _write_health(
        server, ids["https://blog.example/feed.xml"], status="error", last_error="HTTP 503"
    )

    page = await context.new_page()
    await sign_in(page, "organiser", f"/organise/events/{site.slug}/sources")
    table = page.locator("#sources")
    assert "connected" in await table.inner_text()
    error_row = page.locator(f'tbody[data-id="{ids["https://mastodon.social"]}"] .error-row')
    assert await error_row.is_visible() and UNAUTHORIZED in await error_row.inner_text()
    await page.screenshot(path=str(tmp_path / "sources.png"), full_page=True)

    # The runtime reconnects: the page follows without a reload.
    await _write_health(
        server, ids["https://mastodon.social"], status="connected", last_error="", lag_seconds=2
    )
    # Coming back to the tab refreshes at once (otherwise every 10 s).
    await page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    masto = f'tbody[data-id="{ids["https://mastodon.social"]}"]'
    await wait_for(page, f"{masto} .status-connected")
    assert await page.locator(f"{masto} .status").inner_text() == "connected"
    assert not await page.locator(f"{masto} .error-row").is_visible()

    await page.goto(f"/organise/events/{site.slug}/sources?lang=de")
    assert "verbunden" in await page.locator("#sources").inner_text()
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.screenshot(path=str(tmp_path / "sources-de-phone.png"), full_page=True)
