"""Proxied URLs: only URLs this server signed come back as URLs to fetch."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from backchannel.media.links import MediaLinks

BASE = "https://backchannel.example"
REMOTE = "https://files.social.example/media/cat.png?size=small"


def _parts(proxied: str) -> tuple[str, str]:
    assert proxied.startswith("/media/")  # a path: pages are ours, under any host name
    signature, encoded = proxied.removeprefix("/media/").split("/")
    return signature, encoded


def test_a_signed_url_names_its_remote_url() -> None:
    links = MediaLinks("secret", BASE)
    proxied = links.proxied(REMOTE)
    assert proxied is not None
    assert links.verify(*_parts(proxied)) == REMOTE
    # Short enough for a path, and the same every time (caches keep it).
    assert len(proxied) < 40 + len(REMOTE) * 4 / 3
    assert links.proxied(REMOTE) == proxied


@given(st.text(min_size=1, max_size=300))
def test_any_url_round_trips(path: str) -> None:
    links = MediaLinks("secret", BASE)
    url = "https://example.org/" + path
    signature, encoded = links.path(url).removeprefix("/media/").split("/")
    assert links.verify(signature, encoded) == url


def test_a_changed_url_or_signature_or_key_is_refused() -> None:
    links = MediaLinks("secret", BASE)
    signature, encoded = _parts(links.proxied(REMOTE) or "")
    other_signature, other_encoded = _parts(links.proxied("https://evil.example/x.png") or "")
    assert links.verify(signature, other_encoded) is None
    assert links.verify(other_signature, encoded) is None
    assert links.verify("", encoded) is None
    assert links.verify(signature[:-1], encoded) is None
    assert links.verify(signature, encoded + "A") is None
    assert links.verify(signature, "%%%not-base64") is None
    assert links.verify(signature, "__8") is None  # decodes to bytes that are not UTF-8
    assert MediaLinks("another secret", BASE).verify(signature, encoded) is None


def test_own_and_unsafe_urls_are_not_proxied() -> None:
    links = MediaLinks("secret", BASE)
    assert links.proxied(f"{BASE}/static/avatar.svg") == f"{BASE}/static/avatar.svg"
    # A host that merely starts like ours is somebody else's.
    assert (links.proxied(f"{BASE}.evil.example/a.png") or "").startswith("/media/")
    for bad in (None, "", "javascript:alert(1)", "/relative.png", "data:image/png;base64,AA"):
        assert links.proxied(bad) is None
