"""Mastodon's Status JSON → ``PostIn``, the SSE decoder and server URLs: pure parts of
the Mastodon connector, on the samples in tests/data/mastodon/."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from backchannel.connectors.mastodon import server_url
from backchannel.connectors.mastodon_sse import SSEDecoder, SSEEvent
from backchannel.connectors.mastodon_status import (
    KnownStatuses,
    MalformedStatus,
    id_key,
    newest_id,
    parse_status,
    status_id_of,
)
from support_fediverse import sample

SERVER = "https://social.example"


def parse(raw: Any) -> Any:
    return parse_status(raw, server=SERVER, local_domain="social.example")


def test_a_local_post_with_an_image() -> None:
    status = parse(sample("status_local_media.json"))
    post = status.post
    assert post is not None
    assert status.id == "113492817263549184"
    assert post.source == "mastodon"
    assert post.source_uri == "https://social.example/users/ada/statuses/113492817263549184"
    assert post.url == "https://social.example/@ada/113492817263549184"
    assert post.created_at == datetime(2024, 11, 13, 9, 41, 12, 345000, tzinfo=UTC)
    assert post.edited_at is None
    assert post.language == "de"
    assert post.visibility == "public"
    assert not post.sensitive and post.spoiler_text == ""
    assert post.content_html is not None and "Eröffnungsvortrag" in post.content_html
    assert post.tags == ["fedicamp", "opening"]
    assert post.in_reply_to_uri is None
    [media] = post.media
    assert media.type == "image"
    assert media.url.endswith("/original/9c2f6e1a0b3d4c55.jpeg")
    assert media.preview_url is not None and "/small/" in media.preview_url
    assert media.description.startswith("A full lecture hall")
    assert media.blurhash == "UFBWY:8_0Jxv4mx]t8t64.%M-:IUWGWAt6M}"
    author = post.author
    assert author is not None
    # A local account's acct has no domain: the server's is added.
    assert author.acct == "ada@social.example"
    assert author.source == "mastodon"
    assert author.actor_uri == "https://social.example/users/ada"
    assert author.profile_url == "https://social.example/@ada"
    assert author.display_name == "Ada Kowalski"
    assert author.avatar_url is not None and author.avatar_url.endswith(".png")
    assert "Infrastructure" in author.note
    assert not author.bot and not author.opted_out


def test_a_remote_edited_reply_behind_a_content_warning() -> None:
    status = parse(sample("status_remote_edited.json"))
    post = status.post
    assert post is not None and post.author is not None
    assert post.author.acct == "lin@toot.example"
    assert post.edited_at == datetime(2024, 11, 13, 10, 31, 47, tzinfo=UTC)
    assert post.sensitive and post.spoiler_text == "Spoiler: the demo"
    # The parent is named by this server's id; its API URL stands for it.
    assert post.in_reply_to_uri == f"{SERVER}/api/v1/statuses/113492817263549184"
    # Not cached by the server yet: the origin's URL; no alt text is "", not None.
    [media] = post.media
    assert media.type == "video"
    assert media.url.startswith("https://media.toot.example/")
    assert media.description == ""
    assert post.tags == ["FediCamp"]  # ingest normalises
    assert not post.author.opted_out  # neither noindex nor indexable: not an opt-out


@pytest.mark.parametrize(
    ("noindex", "indexable", "opted_out"),
    [(True, None, True), (None, False, True), (False, True, False), (None, None, False)],
)
def test_opting_out(noindex: bool | None, indexable: bool | None, opted_out: bool) -> None:
    raw = sample("status_local_media.json")
    for key, value in (("noindex", noindex), ("indexable", indexable)):
        if value is None:
            raw["account"].pop(key, None)
        else:
            raw["account"][key] = value
    post = parse(raw).post
    assert post is not None and post.author is not None
    assert post.author.opted_out is opted_out


def test_the_noindex_sample_opts_out_and_uses_the_profile_url_as_actor() -> None:
    post = parse(sample("status_noindex.json")).post
    assert post is not None and post.author is not None
    assert post.author.opted_out
    assert post.author.actor_uri == "https://social.example/@quietfox"


def test_a_boost_has_nothing_of_its_own_to_store() -> None:
    status = parse(sample("status_reblog.json"))
    assert status.post is None
    assert status.id == "113493207755112448"


def _broken(change: Any) -> Any:
    raw = sample("status_local_media.json")
    change(raw)
    return raw


MALFORMED: dict[str, Callable[[], Any]] = {
    "not an object": lambda: ["a", "list"],
    "no uri": lambda: _broken(lambda r: r.pop("uri")),
    "uri is a number": lambda: _broken(lambda r: r.update(uri=42)),
    "no account": lambda: _broken(lambda r: r.pop("account")),
    "account is a string": lambda: _broken(lambda r: r.update(account="ada")),
    "acct empty": lambda: _broken(lambda r: r["account"].update(acct="")),
    "bad created_at": lambda: _broken(lambda r: r.update(created_at="yesterday")),
    "content is null": lambda: _broken(lambda r: r.update(content=None)),
    "id is a number": lambda: _broken(lambda r: r.update(id=113492817263549184)),
    "unknown visibility": lambda: _broken(lambda r: r.update(visibility="everyone")),
    "tags not a list": lambda: _broken(lambda r: r.update(tags="fedicamp")),
    "content too long": lambda: _broken(lambda r: r.update(content="x" * 300_000)),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_statuses_are_refused(case: str) -> None:
    with pytest.raises(MalformedStatus):
        parse(MALFORMED[case]())


def test_untidy_but_usable_fields_are_tidied_not_refused() -> None:
    raw = sample("status_local_media.json")
    raw["language"] = "not a language"
    raw["spoiler_text"] = "w" * 3000
    raw["media_attachments"] += [
        {"type": "document", "url": "https://files.social.example/a.pdf"},
        {"type": "image", "url": "javascript:alert(1)", "remote_url": None},
        {"type": "image", "url": None, "remote_url": None},
    ]
    raw["account"]["display_name"] = None
    raw["account"]["avatar"] = "ftp://files.social.example/a.png"
    post = parse(raw).post
    assert post is not None and post.author is not None
    assert post.language is None
    assert len(post.spoiler_text) == 1500
    assert [m.type for m in post.media] == ["image", "unknown"]
    assert post.author.display_name == "" and post.author.avatar_url is None


def test_ids_compare_as_numbers_and_malformed_ones_still_have_theirs() -> None:
    assert id_key("99999999999999999") < id_key("100000000000000000")
    assert newest_id(["99999999999999999", "100000000000000001", "100000000000000000"]) == (
        "100000000000000001"
    )
    raw = sample("status_local_media.json")
    broken = copy.deepcopy(raw)
    del broken["account"]
    assert status_id_of(broken) == raw["id"]
    assert status_id_of({"id": 5}) is None and status_id_of("x") is None


def test_sse_frames_heartbeats_and_chunk_boundaries() -> None:
    decoder = SSEDecoder(max_line=1000)
    stream = b':)\nevent: update\ndata: {"id":"1"}\n\n:thump\nevent: delete\r\ndata: 12\r\n\r\n'
    events: list[SSEEvent] = []
    for i in range(0, len(stream), 7):  # split anywhere, even inside "\r\n"
        events += decoder.feed(stream[i : i + 7])
    assert events == [SSEEvent("update", '{"id":"1"}'), SSEEvent("delete", "12")]
    assert decoder.comments == 2


def test_sse_an_overlong_line_drops_its_event_only() -> None:
    decoder = SSEDecoder(max_line=100)
    big = b"event: update\ndata: " + b"x" * 500 + b"\n\n"
    small = b"event: delete\ndata: 7\n\n"
    events = decoder.feed(big[:50]) + decoder.feed(big[50:] + small)
    assert events == [SSEEvent("delete", "7")]
    assert decoder.dropped == 1
    # In one piece, too.
    assert SSEDecoder(max_line=100).feed(big + small) == [SSEEvent("delete", "7")]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("https://Mastodon.Social/", "https://mastodon.social"),
        ("mastodon.social", "https://mastodon.social"),
        ("https://mastodon.social:443/@Gargron", "https://mastodon.social"),
        ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
    ],
)
def test_server_urls_are_normalised(target: str, expected: str) -> None:
    assert server_url(target) == expected


@pytest.mark.parametrize("target", ["ftp://mastodon.social", "https://", "  "])
def test_what_is_no_server_url(target: str) -> None:
    with pytest.raises(ValueError):
        server_url(target)


def test_known_statuses_forget_the_oldest() -> None:
    known = KnownStatuses(limit=2)
    for n in range(3):
        known.remember(str(n), f"uri{n}")
    assert known.forget("0") is None
    assert known.forget("2") == "uri2" and known.forget("2") is None
