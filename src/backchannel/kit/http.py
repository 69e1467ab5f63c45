"""The one way this server fetches a remote URL.

Connectors, profile lookups and the media proxy all fetch URLs that somebody else
chose (a feed an attendee registered, an avatar a remote server named). Each such
fetch goes through ``make_client``: only http(s), only public addresses (no private,
loopback, link-local or multicast ones, so a URL cannot reach the database or a cloud
metadata service), timeouts, a size limit while reading, and a User-Agent that says
who is asking. Tests and closed networks turn the address check off with
``BACKCHANNEL_HTTP_ALLOW_PRIVATE``.

The address is checked when each request (and each redirect hop) is sent. A name that
resolves to a public address for the check and to a private one a moment later (DNS
rebinding) is not caught; deployments that care put an egress proxy in front.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

import httpx

from backchannel import __version__

#: Seconds to connect, and between two reads of a response.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0


class UnsafeURL(httpx.RequestError):
    """The URL is not one this server fetches (scheme, or a non-public address)."""


class TooLarge(httpx.RequestError):
    """The response is larger than the caller allows."""


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check_host(host: str, port: int | None, *, allow_private: bool) -> None:
    """Raise ``UnsafeURL`` unless every address ``host`` resolves to is public."""
    if allow_private:
        return
    if not host:
        raise UnsafeURL("the URL has no host")
    try:
        addresses = [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
        except OSError as exc:
            # Not unsafe, just unknown (or DNS is down): an ordinary connection error.
            raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        if not _is_public(address):
            raise UnsafeURL(f"{host} resolves to {address}, which is not a public address")


async def check_url(url: str, *, allow_private: bool, schemes: tuple[str, ...] = ()) -> None:
    """``check_host`` for a whole URL, and its scheme (http(s) unless ``schemes``)."""
    parsed = httpx.URL(url)
    if parsed.scheme not in (schemes or ("http", "https")):
        raise UnsafeURL(f"not an allowed URL scheme: {parsed.scheme or '(none)'}")
    await check_host(parsed.host, parsed.port, allow_private=allow_private)


class _GuardedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, allow_private: bool) -> None:
        self._inner = inner
        self._allow_private = allow_private

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in ("http", "https"):
            raise UnsafeURL(f"not an allowed URL scheme: {request.url.scheme}", request=request)
        try:
            await check_host(request.url.host, request.url.port, allow_private=self._allow_private)
        except UnsafeURL as exc:
            raise UnsafeURL(str(exc), request=request) from None
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def user_agent(public_url: str) -> str:
    return f"backchannel/{__version__} (+{public_url})"


def make_client(
    *,
    public_url: str,
    allow_private: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = READ_TIMEOUT,
    max_redirects: int = 5,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for remote URLs; close it when done (``aclose``)."""
    inner = transport or httpx.AsyncHTTPTransport(retries=0)
    return httpx.AsyncClient(
        transport=_GuardedTransport(inner, allow_private),
        timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT),
        follow_redirects=True,
        max_redirects=max_redirects,
        headers={"User-Agent": user_agent(public_url)},
    )


@dataclass
class Fetched:
    status_code: int
    headers: httpx.Headers
    content: bytes
    url: str


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int,
    headers: dict[str, str] | None = None,
    json: Any = None,
) -> Fetched:
    """GET ``url`` (POST ``json`` when given) and read at most ``max_bytes`` of the
    answer (``TooLarge`` beyond)."""
    method = "GET" if json is None else "POST"
    async with client.stream(method, url, headers=headers, json=json) as response:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise TooLarge(f"{url} is {declared} bytes, more than {max_bytes}")
        # Decoded bytes are counted: a small compressed body that inflates enormously
        # is cut off at the limit as well.
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(f"{url} is more than {max_bytes} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        return Fetched(response.status_code, response.headers, body, str(response.url))
