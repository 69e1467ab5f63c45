"""Helpers for the page tests (importable as ``support_web``): an event with sessions,
posts through the API or the one ingest door, and Playwright helpers."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from support import LiveServer

SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("BACKCHANNEL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct-horse-battery"  # what LiveServer.user gives every account


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def event_body(tag: str, **fields: Any) -> dict[str, Any]:
    """An event running now, with a session running now and one later, each tagged."""
    now = datetime.now(UTC).replace(microsecond=0)
    body: dict[str, Any] = {
        "name": f"Digital Skills Day ({tag})",
        "primary_tag": tag,
        "aliases": [f"{tag}alias"],
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=8)).isoformat(),
        "timezone": "Europe/Berlin",
        "languages": ["en"],
        "description": "A day on the skills a digital society needs.\n\nBring questions.",
        "sessions": [
            {
                "title": "Keynote: skills for everyone",
                "speakers": ["Dr. Ruth Adler"],
                "room": "Hall A",
                "starts_at": (now - timedelta(minutes=30)).isoformat(),
                "ends_at": (now + timedelta(minutes=30)).isoformat(),
                "tag": f"{tag}keynote",
            },
            {
                "title": "Panel: open networks for small towns",
                "speakers": ["Lena Vogt", "Ahmet Kaya"],
                "room": "Hall B",
                "starts_at": (now + timedelta(hours=1)).isoformat(),
                "ends_at": (now + timedelta(hours=2)).isoformat(),
                "tag": f"{tag}panel",
            },
        ],
    }
    body.update(fields)
    return body


class Site:
    """An event on the live server, and ways to post into it."""

    def __init__(self, server: LiveServer, http: Any) -> None:
        self.server = server
        self.http = http
        self.slug = ""
        self.tag = ""
        self.tokens: dict[str, str] = {}

    async def token(self, name: str, role: str = "attendee") -> str:
        if name not in self.tokens:
            self.tokens[name] = await self.server.user(name, role)
        return self.tokens[name]

    async def create_event(self, tag: str = "dsd26", **fields: Any) -> dict[str, Any]:
        organiser = await self.token("organiser", "organiser")
        response = await self.http.post(
            "/api/events", json=event_body(tag, **fields), headers=auth(organiser)
        )
        assert response.status_code == 201, response.text
        event: dict[str, Any] = response.json()
        self.slug, self.tag = event["slug"], event["primary_tag"]
        return event

    async def post(self, status: str, author: str = "anna", **fields: Any) -> dict[str, Any]:
        """A post written here, into the event (its hashtag is added when missing)."""
        token = await self.token(author)
        response = await self.http.post(
            f"/api/events/{self.slug}/posts", json={"status": status, **fields}, headers=auth(token)
        )
        assert response.status_code == 201, response.text
        post: dict[str, Any] = response.json()
        return post

    async def post_anywhere(self, status: str, author: str = "anna") -> dict[str, Any]:
        token = await self.token(author)
        response = await self.http.post("/api/posts", json={"status": status}, headers=auth(token))
        assert response.status_code == 201, response.text
        post: dict[str, Any] = response.json()
        return post

    async def ingest(self, **fields: Any) -> str:
        """A remote post through the one door, as a connector would bring it."""
        from backchannel.people.schemas import AuthorIn
        from backchannel.posts import service as posts
        from backchannel.posts.schemas import PostIn

        author = AuthorIn.model_validate(fields.pop("author"))
        data = PostIn.model_validate({"author": author, **fields})
        base = self.server.services.settings.public_url()

        async def write(uow: Any) -> str:
            result = await posts.ingest(uow, data, base_url=base)
            return str(result.post.id)

        post_id: str = await self.server.services.writer.submit(write)
        return post_id

    async def decide(self, post_id: str, action: str) -> None:
        token = await self.token("organiser", "organiser")
        response = await self.http.post(
            f"/api/events/{self.slug}/posts/{post_id}/{action}", headers=auth(token)
        )
        assert response.status_code == 200, response.text


async def sign_in(page: Any, username: str, next_path: str) -> None:
    await page.goto(f"/auth/login?next={next_path}")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    async with page.expect_navigation():
        await page.click("form[action='/auth/login'] button[type=submit]")


async def screenshot(page: Any, name: str, *, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


async def wait_for(page: Any, selector: str, timeout: float = 5000) -> None:
    """Poll until ``selector`` is in the page (live updates arrive within a second)."""
    await page.wait_for_selector(selector, state="attached", timeout=timeout)


async def visible_ids(page: Any) -> list[str]:
    ids: list[str] = await page.eval_on_selector_all(
        ".wall-posts .post", "nodes => nodes.map(n => n.dataset.id)"
    )
    return ids
