"""Reading OPML subscription lists, as feed readers export them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from backchannel.connectors.opml import (
    MAX_OPML_BYTES,
    MAX_OPML_DEPTH,
    MAX_OPML_FEEDS,
    OpmlError,
    OpmlFeed,
    parse_opml,
)

DATA = Path(__file__).parent.parent / "data" / "feeds"


def opml(body: str) -> bytes:
    return f'<?xml version="1.0"?><opml version="2.0"><body>{body}</body></opml>'.encode()


def test_feeds_in_nested_folders_are_found_and_the_rest_skipped() -> None:
    feeds = parse_opml((DATA / "subscriptions.opml").read_bytes())

    assert feeds == [
        OpmlFeed("https://ada.example/feed.xml", "Ada's Notebook", "https://ada.example/"),
        OpmlFeed("https://grace.example/atom.xml", "Grace schreibt", "https://grace.example/"),
        OpmlFeed("https://margaret.example/feed.json", "Margaret's microblog", None),
        OpmlFeed("https://blog.attendee.example/rss", "Attendee without a title attribute", None),
    ]


def test_outlines_without_a_usable_xml_url_are_skipped() -> None:
    feeds = parse_opml(
        opml(
            '<outline text="folder"/>'
            '<outline text="empty" xmlUrl=""/>'
            '<outline text="script" xmlUrl="javascript:alert(1)"/>'
            '<outline text="relative" xmlUrl="/feed.xml"/>'
            '<outline text="ok" xmlUrl="https://ok.example/feed"/>'
            '<outline text="again" xmlUrl="https://ok.example/feed"/>'
        )
    )
    assert feeds == [OpmlFeed("https://ok.example/feed", "ok", None)]


def test_real_world_quirks_are_tolerated() -> None:
    # A bare "&" in a URL (not XML at all), attribute names in other cases, feed://,
    # a title spread over lines, a bad htmlUrl, outlines deep in folders.
    body = (
        b"<opml version='1.0'><body><outline text='News'><outline text='Deeper'>"
        b'<outline TEXT="Query &amp; more" XMLURL="https://q.example/rss?a=1&b=2" '
        b'htmlurl="javascript:x"/>'
        b'<outline title="  Two\n   lines " xmlUrl="feed://feed.example/atom"/>'
        b'<outline text="Prefixed" xmlUrl="feed:https://prefixed.example/rss"/>'
        b"</outline></outline></body></opml>"
    )
    assert parse_opml(body) == [
        OpmlFeed("https://q.example/rss?a=1&b=2", "Query & more", None),
        OpmlFeed("http://feed.example/atom", "Two lines", None),
        OpmlFeed("https://prefixed.example/rss", "Prefixed", None),
    ]


def test_encodings_other_than_utf8_are_read() -> None:
    body = (
        '<?xml version="1.0" encoding="ISO-8859-1"?><opml><body>'
        '<outline text="Caf\xe9" xmlUrl="https://cafe.example/rss"/></body></opml>'
    ).encode("latin-1")
    assert parse_opml(body)[0].title == "Café"
    assert parse_opml(b"\xef\xbb\xbf" + opml('<outline xmlUrl="https://b.example/"/>'))[0].url


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"<html><body><p>hello</p></body></html>", "not an OPML file"),
        (b"just text", "not an OPML file"),
    ],
)
def test_what_is_not_opml_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(OpmlError, match=message):
        parse_opml(body)


def test_a_billion_laughs_document_is_refused_at_once() -> None:
    levels = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    body = (
        f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY lol0 "lol">{levels}]>'
        '<opml><body><outline text="&lol9;" xmlUrl="https://x.example/"/></body></opml>'
    ).encode()
    started = time.perf_counter()
    with pytest.raises(OpmlError, match="entities") as refused:
        parse_opml(body)
    assert time.perf_counter() - started < 0.5
    assert isinstance(refused.value, ValueError)


def test_external_entities_are_refused_too() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<opml><body><outline text="&xxe;" xmlUrl="https://x.example/"/></body></opml>'
    )
    with pytest.raises(OpmlError, match="entities"):
        parse_opml(body)


def test_an_entity_bomb_in_broken_xml_is_refused_as_well() -> None:
    body = (
        b'<!DOCTYPE opml [<!ENTITY a "&b;&b;">]><opml><body>'
        b'<outline xmlUrl="https://x.example/?a=1&b=2"/></body></opml>'
    )
    with pytest.raises(OpmlError, match="entities"):
        parse_opml(body)


def test_huge_deep_or_overlong_lists_are_refused() -> None:
    with pytest.raises(OpmlError, match="larger than"):
        parse_opml(b" " * (MAX_OPML_BYTES + 1))
    deep = "<outline text='f'>" * (MAX_OPML_DEPTH + 1) + "</outline>" * (MAX_OPML_DEPTH + 1)
    with pytest.raises(OpmlError, match="nested more than"):
        parse_opml(opml(deep))
    many = "".join(
        f'<outline xmlUrl="https://blog{i}.example/feed"/>' for i in range(MAX_OPML_FEEDS + 1)
    )
    with pytest.raises(OpmlError, match=f"more than {MAX_OPML_FEEDS} feeds"):
        parse_opml(opml(many))
