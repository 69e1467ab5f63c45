"""The one HTTP client for remote URLs: it refuses what it must not fetch, and reads
no more than the caller allows."""

from __future__ import annotations

import gzip

import httpx
import pytest

from backchannel.kit.http import TooLarge, UnsafeURL, check_url, fetch, make_client


def _echo(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/big":
        return httpx.Response(200, content=b"x" * 5000)
    if request.url.path == "/bomb":
        body = gzip.compress(b"\0" * 1_000_000)
        return httpx.Response(200, content=body, headers={"content-encoding": "gzip"})
    if request.url.path == "/redirect":
        return httpx.Response(302, headers={"location": "http://10.0.0.7/admin"})
    return httpx.Response(200, json={"ua": request.headers["user-agent"]})


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:5432/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "ftp://example.com/",
        "file:///etc/passwd",
    ],
)
async def test_refuses_private_addresses_and_other_schemes(url: str) -> None:
    with pytest.raises(UnsafeURL):
        await check_url(url, allow_private=False)


async def test_allows_public_addresses_and_private_ones_when_told() -> None:
    await check_url("https://93.184.215.14/feed", allow_private=False)
    await check_url("http://127.0.0.1:8000/", allow_private=True)


async def test_client_checks_every_hop_and_says_who_asks() -> None:
    async with make_client(
        public_url="https://bc.example", transport=httpx.MockTransport(_echo)
    ) as client:
        with pytest.raises(UnsafeURL, match="not a public address"):
            await client.get("http://127.0.0.1/")
        # A public server redirecting to a private address is refused at the hop.
        with pytest.raises(UnsafeURL, match="10.0.0.7"):
            await client.get("http://93.184.215.14/redirect")
        response = await client.get("http://93.184.215.14/ua")
        assert response.json()["ua"].startswith("backchannel/")
        assert "https://bc.example" in response.json()["ua"]


async def test_fetch_stops_at_the_size_limit_even_when_compressed() -> None:
    async with make_client(
        public_url="https://bc.example",
        allow_private=True,
        transport=httpx.MockTransport(_echo),
    ) as client:
        small = await fetch(client, "http://127.0.0.1/ok", max_bytes=1000)
        assert small.status_code == 200 and b"backchannel" in small.content
        with pytest.raises(TooLarge):
            await fetch(client, "http://127.0.0.1/big", max_bytes=1000)
        with pytest.raises(TooLarge):
            await fetch(client, "http://127.0.0.1/bomb", max_bytes=5000)
