"""Proxied image URLs: ``/media/SIGNATURE/URL-IN-URLSAFE-BASE64``.

The signature is an HMAC of the remote URL under a key derived from the app's secret,
so only URLs this server put into a page or a post's JSON can be fetched through it:
``/media/`` is not an open proxy. The path depends on the URL alone, the same for every
wall, process and restart, so browsers (and a CDN in front) cache each image once.

Why a registry by public URL: a post's JSON is built once, where it is stored
(``posts.service.ingest``, called by connectors, the Mastodon API, the web forms with
nothing but the site's base URL in hand) and those bytes go to every wall. The app
registers its signer once in ``create_app`` and ``post_json`` finds it by base URL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from backchannel.config import Settings
from backchannel.kit.urls import safe_url

#: Bytes of HMAC-SHA256 kept in a URL: 128 bits cannot be guessed, and stay short.
SIGNATURE_BYTES = 16
#: Separates this key from every other use of the secret (session cookies).
_PURPOSE = b"backchannel media proxy v1"
PREFIX = "/media/"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class MediaLinks:
    """Signs remote image URLs for one site and checks the signatures it gets back."""

    def __init__(self, secret: str, base_url: str) -> None:
        self._key = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()
        self.base_url = base_url.rstrip("/")

    def _signature(self, url: str) -> str:
        mac = hmac.new(self._key, url.encode(), hashlib.sha256).digest()
        return _b64(mac[:SIGNATURE_BYTES])

    def path(self, url: str) -> str:
        """``/media/SIGNATURE/ENCODED`` for ``url`` (which the caller checked)."""
        return f"{PREFIX}{self._signature(url)}/{_b64(url.encode())}"

    def proxied(self, url: str | None) -> str | None:
        """What a page of this site shows for the image at ``url``.

        A remote image: its ``/media/…`` path. A path, not an absolute URL, because
        the pages that show it are this site's own, reached under whatever name a
        proxy in front gives it (``base_url`` may be unset, or name another door).
        A URL on this site already is left as it is, but for this site's own
        ``/media/`` files (images uploaded here): their path, for the same reason.
        ``None`` for a missing or unsafe one (``javascript:``, relative, …).
        """
        safe = safe_url(url)
        if safe is None:
            return None
        if safe.startswith(self.base_url + "/"):
            path = safe[len(self.base_url) :]
            return path if path.startswith(PREFIX) else safe
        return self.path(safe)

    def verify(self, signature: str, encoded: str) -> str | None:
        """The remote URL if ``signature`` is ours for it, else ``None``."""
        try:
            url = _unb64(encoded).decode()
        except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
            return None
        if not hmac.compare_digest(signature.encode(), self._signature(url).encode()):
            return None
        return url


_SITES: dict[str, MediaLinks] = {}


def register(settings: Settings) -> MediaLinks:
    """Make ``settings``' signer the one ``for_site(settings.public_url())`` returns."""
    links = MediaLinks(settings.resolved_secret_key(), settings.public_url())
    _SITES[links.base_url] = links
    return links


def for_site(base_url: str) -> MediaLinks | None:
    """The registered signer of the site at ``base_url``; ``None`` if none is."""
    return _SITES.get(base_url.rstrip("/"))


def for_settings(settings: Settings) -> MediaLinks:
    """The registered signer for ``settings``' site, registering it on first use."""
    return for_site(settings.public_url()) or register(settings)
