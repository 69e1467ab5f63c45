from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backchannel.kit.urls import safe_url


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org",
        "https://example.org/",
        "http://example.org/path?q=1&r=2#frag",
        "HTTPS://EXAMPLE.ORG/Path",
        "https://sub.example.co.uk:8443/a/b",
        "http://127.0.0.1:8000/",
        "http://[::1]:8080/x",
        "https://bücher.example/straße",
        "https://example.org/wiki/Foo_(bar)",
        "https://example.org/%20encoded",
        "http://localhost/",
    ],
)
def test_accepts_absolute_http_urls(url: str) -> None:
    assert safe_url(url) == url


def test_strips_surrounding_whitespace() -> None:
    assert safe_url("  https://example.org/a \n") == "https://example.org/a"


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "   ",
        "javascript:alert(1)",
        " JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "java\x00script:alert(1)",
        "\x01javascript:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html,<script>alert(1)</script>",
        "data:text/html;base64,PHNjcmlwdD4=",
        "file:///etc/passwd",
        "ftp://example.org/",
        "mailto:a@example.org",
        "//example.org/path",
        "/relative/path",
        "relative/path",
        "example.org",
        "https:",
        "https://",
        "https:///path",
        "https:example.org",
        "https:\\\\example.org",
        "https://example.org\\@evil.example/",
        "https://user:pass@example.org/",
        "https://example.org@evil.example/",
        "https://example.org:99999/",
        "https://example.org:port/",
        "https://[::1/",
        "https://[not-ipv6]/",
        "https://exa mple.org/",
        "https://example.org/a b",
        "https://example.org/\u202egnp.exe",
        "https://example.org/\u200b",
        "https://example.org/\u3000x",
        'https://example.org/"onmouseover="alert(1)',
        "https://example.org/<script>",
        "https://exa<mple.org/",
        "https://ex!ample.org/",
        "https://example.org/\x7f",
        "&#106;avascript:alert(1)",
    ],
)
def test_rejects_unsafe_or_malformed(url: str | None) -> None:
    assert safe_url(url) is None


def test_max_length() -> None:
    url = "https://example.org/" + "a" * 100
    assert safe_url(url, max_length=len(url)) == url
    assert safe_url(url, max_length=len(url) - 1) is None
    assert safe_url("https://example.org/" + "a" * 3000) is None


@given(st.text(max_size=200))
def test_result_is_always_http_without_whitespace(raw: str) -> None:
    result = safe_url(raw)
    if result is not None:
        assert result.lower().startswith(("http://", "https://"))
        assert not any(c.isspace() or ord(c) < 32 for c in result)
        assert safe_url(result) == result


@given(
    st.sampled_from(["javascript", "JAVASCRIPT", "jAvAsCrIpT", "vbscript", "data"]),
    st.sampled_from(["", " ", "\t", "\n", "\x00", "\u00a0"]),
    st.text(max_size=30),
)
def test_script_schemes_never_pass(scheme: str, padding: str, rest: str) -> None:
    assert safe_url(f"{padding}{scheme}:{rest}") is None
    assert safe_url(f"{scheme[:4]}{padding}{scheme[4:]}:{rest}") is None
