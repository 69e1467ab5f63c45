"""Helpers for the Mastodon API tests (importable as ``support_mastodon``).

A real Mastodon.py client against the live server (run in a thread: it is
synchronous, and the server shares our event loop), and a browser-like walk through
the sign-in and consent pages."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import re
import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from mastodon import Mastodon

from support import LiveServer

T = TypeVar("T")
PASSWORD = "correct-horse-battery"  # what LiveServer.user gives every account
REDIRECT = "http://127.0.0.1/callback"


async def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking Mastodon.py call without blocking the server's event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def client(server: LiveServer, token: str | None = None, **kwargs: Any) -> Mastodon:
    return Mastodon(
        access_token=token,
        api_base_url=server.base_url,
        ratelimit_method="throw",
        request_timeout=10,
        **kwargs,
    )


async def user_token(server: LiveServer, name: str, scopes: str = "read write follow") -> str:
    """A local account and a Mastodon API token for it (as ``backchannel token`` makes)."""
    from backchannel.mastodon_api.tokens import issue_user_token
    from backchannel.people import service as people

    async def write(uow: Any) -> str:
        account = await people.create_local_account(uow.session, name, PASSWORD, "attendee")
        await uow.session.flush()
        return await issue_user_token(uow.session, account.id, scopes, "test")

    token: str = await server.services.writer.submit(write)
    return token


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hidden_fields(page: str) -> dict[str, str]:
    fields = re.findall(r'<input type=hidden name="?([a-z_]+)"? value="([^"]*)"', page)
    return {name: html.unescape(value) for name, value in fields}


async def authorise_in_browser(
    server: LiveServer, authorize_url: str, username: str, *, approve: bool = True
) -> httpx.Response:
    """Open the authorize URL, sign in on the form, approve; the final redirect."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as browser:
        page = await browser.get(authorize_url)
        assert page.status_code == 200, page.text
        assert 'action="/auth/login"' in page.text
        sign_in = hidden_fields(page.text)
        signed = await browser.post(
            "/auth/login",
            data={**sign_in, "username": username, "password": PASSWORD},
        )
        assert signed.status_code == 303, signed.text
        location = signed.headers["location"]
        assert location.startswith("/oauth/authorize?")
        consent = await browser.get(location)
        assert consent.status_code == 200, consent.text
        assert "Authorise" in consent.text and f"@{username}" in consent.text
        form = hidden_fields(consent.text)
        form["decision"] = "approve" if approve else "deny"
        return await browser.post("/oauth/authorize", data=form)


def code_from(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return query["code"][0]


def with_pkce(url: str, challenge: str) -> str:
    extra = urlencode({"code_challenge": challenge, "code_challenge_method": "S256"})
    return f"{url}&{extra}"
