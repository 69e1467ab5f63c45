"""URL checks for links that end up in pages, feeds and API answers."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

__all__ = ["safe_url"]

_SCHEMES = frozenset({"http", "https"})
# Not valid unencoded in a URL, and each one has been used to make a browser and a
# server disagree about what a URL means (backslash is a path separator to browsers).
_FORBIDDEN_CHARS = frozenset('\\<>"`')
# Control, format (bidi overrides, zero-width), surrogate and separator characters.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})
# Dot-separated labels of letters, digits, hyphens and underscores (IDNs allowed).
_HOST_RE = re.compile(r"[\w-]+(?:\.[\w-]+)*\.?")


# The ASCII case of the test below as one scan in C: every post carries a few URLs.
_FORBIDDEN_ASCII = re.compile(r'[\x00-\x20\x7f\\<>"`]')


def _has_forbidden_char(url: str) -> bool:
    if url.isascii():
        return _FORBIDDEN_ASCII.search(url) is not None
    return any(
        c in _FORBIDDEN_CHARS or c.isspace() or unicodedata.category(c) in _FORBIDDEN_CATEGORIES
        for c in url
    )


def safe_url(url: str | None, *, max_length: int = 2048) -> str | None:
    """Return ``url`` stripped if it is a safe absolute http(s) URL, else ``None``.

    Safe means: scheme ``http`` or ``https`` (any case), a host, no user info
    (``https://bank.example@evil.example`` is a phishing trick), a valid port, no
    whitespace, control or invisible formatting characters anywhere, no backslash,
    ``<``, ``>``, double quote or backtick, and at most ``max_length`` characters.
    ``javascript:``, ``data:``, relative and scheme-relative URLs come out as ``None``.
    """
    if url is None:
        return None
    candidate = url.strip()
    if not candidate or len(candidate) > max_length or _has_forbidden_char(candidate):
        return None
    try:
        parts = urlsplit(candidate)
        _ = parts.port  # raises ValueError for a malformed port
    except ValueError:
        return None
    if parts.scheme not in _SCHEMES:
        return None
    if not parts.netloc or "@" in parts.netloc:
        return None
    host = parts.hostname
    if not host:
        return None
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return None
    elif not _HOST_RE.fullmatch(host):
        return None
    return candidate
