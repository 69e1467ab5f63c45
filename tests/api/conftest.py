"""A small client for the HTTP API tests: accounts, events, posts and remote ingest.

Everything goes through the live server's HTTP API, except remote posts, which come in
through the one door (``posts.service.ingest``) the way a connector would bring them.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

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


class Api:
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
        fields.setdefault(
            "author", {"acct": "remote@social.example", "source": "mastodon"}
        )
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


# Plain helpers, reachable from tests as ``api.texts(...)`` etc. (test modules cannot
# import a conftest).
Api.auth = staticmethod(auth)  # type: ignore[attr-defined]
Api.event_body = staticmethod(event_body)  # type: ignore[attr-defined]
Api.texts = staticmethod(texts)  # type: ignore[attr-defined]
Api.ids = staticmethod(ids)  # type: ignore[attr-defined]
Api.elements = staticmethod(elements)  # type: ignore[attr-defined]
Api.assert_inert_html = staticmethod(assert_inert_html)  # type: ignore[attr-defined]


@pytest.fixture
async def api(server: LiveServer, http: Any) -> Api:
    return Api(server, http)
