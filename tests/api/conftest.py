"""A small client for the HTTP API tests: accounts, events, posts and remote ingest.

Everything goes through the live server's HTTP API, except remote posts, which come in
through the one door (``posts.service.ingest``) the way a connector would bring them.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import backchannel.db.models  # noqa: F401
from backchannel.db.base import Base
from support import LiveServer


def event_body(tag: str, **fields: Any) -> dict[str, Any]:
    """A valid body for ``POST /api/events``; ``fields`` override or add to it."""
    body: dict[str, Any] = {
        "name": f"Event {tag}",
        "primary_tag": tag,
        "starts_at": "2025-05-14T09:00:00+02:00",
        "ends_at": "2025-05-14T18:00:00+02:00",
        "timezone": "Europe/Berlin",
    }
    body.update(fields)
    return body


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def texts(posts: list[dict[str, Any]]) -> list[str]:
    return [p["text"] for p in posts]


def ids(posts: list[dict[str, Any]]) -> list[str]:
    return [p["id"] for p in posts]


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every element of ``html`` as a browser's tokenizer sees it: (tag, attributes)."""
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.elements


def assert_inert_html(html: str) -> None:
    """Nothing in ``html`` runs script: no script-ish element, no event handler
    attribute, no ``javascript:`` (or other non-http) link. Escaped text such as
    ``&lt;img onerror=…&gt;`` is fine: a browser shows it as text."""
    assert "<script" not in html.lower()
    for tag, attrs in elements(html):
        assert tag not in {"script", "img", "iframe", "svg", "object", "embed", "style"}, html
        for name, value in attrs.items():
            assert not name.startswith("on"), html
            assert name not in {"style", "src", "srcdoc", "formaction"}, html
            if name == "href":
                assert value is not None
                assert value.lower().startswith(("http://", "https://", "mailto:")), html


class Api:
    """What the tests use: the live server, its HTTP client, and the helpers above."""

    auth = staticmethod(auth)
    event_body = staticmethod(event_body)
    texts = staticmethod(texts)
    ids = staticmethod(ids)
    elements = staticmethod(elements)
    assert_inert_html = staticmethod(assert_inert_html)

    def __init__(self, server: LiveServer, http: Any) -> None:
        self.server = server
        self.http = http

    @property
    def base_url(self) -> str:
        return str(self.server.services.settings.public_url())

    async def user(self, name: str, role: str = "attendee") -> str:
        return await self.server.user(name, role)

    async def create_event(self, token: str, tag: str, **fields: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/api/events", json=event_body(tag, **fields), headers=auth(token)
        )
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    async def post(self, token: str, status: str, **fields: Any) -> dict[str, Any]:
        """A post written here through ``POST /api/posts``."""
        response = await self.http.post(
            "/api/posts", json={"status": status, **fields}, headers=auth(token)
        )
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    async def ingest(self, **fields: Any) -> Any:
        """A remote post through the one door; returns the ``IngestResult``."""
        from backchannel.posts.schemas import PostIn
        from backchannel.posts.service import ingest

        fields.setdefault("source", "mastodon")
        fields.setdefault("author", {"acct": "remote@social.example", "source": "mastodon"})
        data = PostIn.model_validate(fields)
        base = self.base_url

        async def write(uow: Any) -> Any:
            return await ingest(uow, data, base_url=base)

        return await self.server.services.writer.submit(write)

    async def delete_remote(self, source_uri: str) -> bool:
        from backchannel.posts.service import delete

        async def write(uow: Any) -> bool:
            return await delete(uow, source_uri)

        gone: bool = await self.server.services.writer.submit(write)
        return gone

    async def get_json(self, path: str, token: str | None = None, **params: Any) -> Any:
        headers = auth(token) if token else {}
        response = await self.http.get(path, params=params, headers=headers)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
        return response.json()

    async def timeline(self, slug: str, token: str | None = None, **params: Any) -> list[Any]:
        data: list[Any] = await self.get_json(f"/api/events/{slug}/timeline", token, **params)
        return data

    async def tag_timeline(self, tag: str, **params: Any) -> list[Any]:
        data: list[Any] = await self.get_json(f"/api/tags/{tag}/timeline", **params)
        return data

    async def wall(self, slug: str) -> dict[str, Any]:
        data: dict[str, Any] = await self.get_json(f"/api/events/{slug}/wall")
        return data

    async def events(self) -> list[Any]:
        data: list[Any] = await self.get_json("/api/events")
        return data


@pytest.fixture
async def server(live: LiveServer, engine: AsyncEngine) -> LiveServer:
    """The module's live server with an empty database for this test.

    Overrides the harness's fixture only in how it empties the database: these
    tests are many and write little, and on PostgreSQL ``DELETE`` of a few rows is
    ten times faster than ``TRUNCATE`` (~0.02 s against ~0.2 s per test).
    """
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with engine.begin() as conn:
        for name in tables:
            await conn.execute(text(f"DELETE FROM {name}"))
    return live


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with its recommended cost takes ~0.2 s per account; these tests make
    many accounts and test the API, not the hash, so they use a cheap Argon2id."""
    from argon2 import PasswordHasher

    from backchannel.people import passwords

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)


@pytest.fixture
async def api(server: LiveServer, http: Any) -> Api:
    return Api(server, http)
