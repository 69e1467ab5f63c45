"""Bluesky post records read into tags and ``PostIn``: facets, ``tags``, hashtags in
the text, images, replies, languages and times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from backchannel.connectors.jetstream import (
    TagFilter,
    created_at,
    post_in,
    stated_tags,
    valid_did,
)

DID = "did:plc:dclwtltrt2ggsryagfzk7dp4"
SEEN = datetime(2026, 7, 4, 14, 38, 8, tzinfo=UTC)
CID = "bafkreias7oxbr6swsuggccmtnqpoeami4jza5x4w3urltn6gzhqf4k6k2e"


def tag_facet(tag: Any) -> dict[str, Any]:
    return {"features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}], "index": {}}


@pytest.mark.parametrize(
    ("record", "kept"),
    [
        ({"text": "x", "facets": [tag_facet("DK2026")]}, True),
        ({"text": "x", "facets": [tag_facet("Überwachung")]}, False),
        ({"text": "x", "tags": ["#dk26"]}, True),
        ({"text": "Kommt alle (#DK2026)!"}, True),  # no facet: the text's hashtag
        ({"text": "https://example.org/page#dk2026"}, False),  # a URL fragment
        ({"text": "dk2026 without a hash"}, False),
        ({"text": "x", "facets": "nope", "tags": [1, None, {"a": 1}]}, False),
        ({"text": 5, "facets": [None, {"features": [None, {"$type": 3}]}]}, False),
        ({"text": "x", "facets": [tag_facet(["dk2026"])]}, False),
    ],
)
def test_matches(record: dict[str, Any], kept: bool) -> None:
    assert TagFilter(frozenset({"dk2026", "dk26"})).matches(record) is kept


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("Die #Überwachung geht weiter 😡", {"uberwachung"}),
        ("Die #U\u0308berwachung (decomposed)", {"uberwachung"}),
        ("#Færøerne 🇫🇴", {"faeroerne"}),
        ("#ｄｋ２０２６ in fullwidth", {"dk2026"}),
        ("＃dk2026 with a fullwidth hash", {"dk2026"}),
        ("#Straße", {"strasse"}),
        ("#東京 2026", {"東京"}),
        ("#dk2026", {"東京", "dk2026"}),
    ],
)
def test_hashtags_in_the_text_match_however_they_are_written(text: str, tags: set[str]) -> None:
    assert TagFilter(frozenset(tags)).matches({"text": text})
    assert not TagFilter(frozenset({"other"})).matches({"text": text})


def test_facet_tags_are_normalised_like_hashtags() -> None:
    record = {"text": "x", "facets": [tag_facet("Überwachung")]}
    assert TagFilter(frozenset({"uberwachung"})).matches(record)
    assert not TagFilter(frozenset()).matches(record)


def test_stated_tags_come_from_facets_and_tags_once() -> None:
    record = {
        "facets": [tag_facet("DK2026"), tag_facet("talks"), tag_facet("x" * 301)],
        "tags": ["#talks", "extra", 7],
    }
    assert stated_tags(record) == ["DK2026", "talks", "extra"]


def test_post_in_builds_everything_bluesky_says() -> None:
    record = {
        "$type": "app.bsky.feed.post",
        "text": "Slides are up #dk2026",
        "createdAt": "2026-07-04T14:38:06.240Z",
        "langs": ["de-DE", "en"],
        "facets": [tag_facet("dk2026")],
        "reply": {
            "root": {"uri": "at://did:plc:root/app.bsky.feed.post/1", "cid": CID},
            "parent": {"uri": "at://did:plc:parent/app.bsky.feed.post/2", "cid": CID},
        },
        "labels": {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "nudity"}]},
        "embed": {
            "$type": "app.bsky.embed.recordWithMedia",
            "record": {"record": {"uri": "at://did:plc:q/app.bsky.feed.post/3", "cid": CID}},
            "media": {
                "$type": "app.bsky.embed.images",
                "images": [
                    {
                        "alt": "The first slide",
                        "image": {"$type": "blob", "ref": {"$link": CID}, "mimeType": "image/png"},
                    },
                    {"alt": "legacy blob", "image": {"cid": CID, "mimeType": "image/jpeg"}},
                    {"alt": "no blob"},
                ],
            },
        },
    }
    post = post_in(DID, "3mptbyoeyc22k", record, seen_at=SEEN, edited=True)
    assert post.source_uri == f"at://{DID}/app.bsky.feed.post/3mptbyoeyc22k"
    assert post.url == f"https://bsky.app/profile/{DID}/post/3mptbyoeyc22k"
    assert post.text == "Slides are up #dk2026"
    assert post.tags == ["dk2026"]
    assert post.language == "de-DE"
    assert post.created_at == datetime(2026, 7, 4, 14, 38, 6, 240000, tzinfo=UTC)
    assert post.edited_at == SEEN
    assert post.sensitive is True
    assert post.in_reply_to_uri == "at://did:plc:parent/app.bsky.feed.post/2"
    assert [(m.url, m.preview_url, m.description) for m in post.media] == [
        (
            f"https://cdn.bsky.app/img/feed_fullsize/plain/{DID}/{CID}@jpeg",
            f"https://cdn.bsky.app/img/feed_thumbnail/plain/{DID}/{CID}@jpeg",
            "The first slide",
        ),
        (
            f"https://cdn.bsky.app/img/feed_fullsize/plain/{DID}/{CID}@jpeg",
            f"https://cdn.bsky.app/img/feed_thumbnail/plain/{DID}/{CID}@jpeg",
            "legacy blob",
        ),
    ]


def test_post_in_takes_odd_fields_as_absent() -> None:
    record = {"text": None, "langs": ["not a language"], "reply": "x", "embed": [1]}
    post = post_in(DID, "r", record, seen_at=SEEN)
    assert (post.text, post.language, post.in_reply_to_uri, post.media) == ("", None, None, [])


def test_post_in_refuses_what_postin_refuses() -> None:
    with pytest.raises(ValidationError):
        post_in(DID, "r", {"text": "y" * 20_001}, seen_at=SEEN)


@pytest.mark.parametrize(
    ("stated", "expected"),
    [
        ("2026-07-04T14:00:00Z", datetime(2026, 7, 4, 14, 0, tzinfo=UTC)),
        ("2026-07-04T16:38:08+02:00", SEEN),  # the same instant in another zone
        ("2099-01-01T00:00:00Z", SEEN),  # in the future: when the network saw it
        ("1970-01-01T00:00:00Z", SEEN),  # before Bluesky: nonsense
        ("yesterday", SEEN),
        (12345, SEEN),
        ("2026-07-04T14:00:00", datetime(2026, 7, 4, 14, 0, tzinfo=UTC)),  # naive: UTC
    ],
)
def test_created_at_is_clamped(stated: object, expected: datetime) -> None:
    assert created_at({"createdAt": stated}, SEEN) == expected


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (DID, True),
        ("did:web:example.com", True),
        ("did:plc:", False),
        ("DID:plc:abc", False),
        ("did:plc:a/b", False),
        (None, False),
        ("did:plc:" + "a" * 300, False),
    ],
)
def test_valid_did(value: object, valid: bool) -> None:
    assert valid_did(value) is valid
