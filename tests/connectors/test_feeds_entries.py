"""Reading feed bodies into entries (feed_entries) and choosing the entries that count
(feed_posts); no I/O."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from backchannel.connectors.feed_entries import FeedParseError, discover_feeds, parse_feed
from backchannel.connectors.feed_posts import (
    SUMMARY_CHARS,
    FeedPosts,
    Selection,
    feed_acct_digest,
    select_posts,
)
from backchannel.posts.html import html_to_text

DATA = Path(__file__).parent.parent / "data" / "feeds"
FEED_URL = "https://feeds.example/blog/feed"
NOW = datetime(2025, 5, 20, tzinfo=UTC)
DK = Selection(tags=frozenset({"dk2025"}))
DIGEST = feed_acct_digest(FEED_URL)


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def select(body: bytes, selection: Selection = DK, content_type: str = "") -> FeedPosts:
    doc = parse_feed(body, url=FEED_URL, content_type=content_type)
    return select_posts(doc, feed_url=FEED_URL, selection=selection, now=NOW)


def by_title(found: FeedPosts) -> dict[str | None, dict[str, object]]:
    return {p.title: p.model_dump() for p in found.posts}


def rss(*items: str, channel: str = "") -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Blog</title>'
        f"<link>https://blog.example/</link>{channel}{''.join(items)}</channel></rss>"
    ).encode()


# --- the three formats -------------------------------------------------------------


def test_rss_entries_with_the_tag_in_categories_or_text_count() -> None:
    found = select(read("rss2.xml"), content_type="application/rss+xml")

    posts = by_title(found)
    assert set(posts) == {"Day one at the Data Konferenz", "Hallway track"}
    day_one = found.posts[0]
    assert day_one.source_uri == "https://ada.example/2025/05/day-one"
    assert day_one.url == "https://ada.example/2025/05/day-one"
    # The feed's own short summary, not the full content.
    assert day_one.content_html == (
        "<p>The keynote was about <em>engines</em> that weave algebra.</p>"
    )
    assert day_one.tags == ["dk2025", "conferences"]
    assert day_one.created_at == datetime(2025, 5, 17, 17, 30, tzinfo=UTC)
    assert day_one.language == "en-gb"
    assert day_one.author is not None
    assert day_one.author.display_name == "Ada Lovelace"
    assert day_one.author.acct == f"ada_lovelace_{DIGEST}@feeds.example"
    assert day_one.author.actor_uri == FEED_URL
    assert day_one.author.profile_url == "https://ada.example/"
    assert day_one.author.avatar_url == "https://ada.example/avatar.png"
    # A guid that is no URI is tied to the feed, so another feed's "1" is another post.
    assert found.posts[1].source_uri == f"{FEED_URL}#ada-notebook-hallway-2025"
    assert found.dropped == 2
    assert found.malformed == 0


def test_atom_entries_count_by_category_or_hashtag_past_the_summary() -> None:
    found = select(read("atom.xml"), content_type="application/atom+xml")

    posts = {p.title: p for p in found.posts}
    assert set(posts) == {"Compiler-Workshop auf der DK2025", "Ein langer Bericht"}
    workshop = posts["Compiler-Workshop auf der DK2025"]
    assert workshop.source_uri == "tag:grace.example,2025:compiler-workshop"
    assert workshop.url == "https://grace.example/2025/compiler-workshop"
    assert workshop.edited_at == datetime(2025, 5, 18, 8, tzinfo=UTC)
    assert workshop.author is not None and workshop.author.display_name == "Grace Hopper"
    assert workshop.author.avatar_url == "https://grace.example/icon.png"
    # Only full content: a summary of it, cut at a word, with the tag still counted.
    report = posts["Ein langer Bericht"]
    text = html_to_text(report.content_html or "")
    assert text.endswith("…") and "#DK2025" not in text
    assert SUMMARY_CHARS * 0.6 < len(text) <= SUMMARY_CHARS + 1
    assert text[:-1].split()[-1] in "Zum Schluss gab es eine lange Diskussion".split()
    assert report.tags == ["dk2025"]
    assert found.dropped == 1


def test_json_feed_items_count_by_tags_or_hashtag_in_text() -> None:
    found = select(read("feed.json"), content_type="application/feed+json")

    talk, lunch = found.posts
    assert talk.title == "Software engineering, a talk"
    assert talk.content_html == "<p>Why we called it engineering.</p>"
    assert talk.tags == ["dk2025", "talks"]
    assert [m.url for m in talk.media] == ["https://margaret.example/images/apollo.jpg"]
    assert talk.author is not None
    assert talk.author.display_name == "Margaret Hamilton"
    assert talk.author.avatar_url == "https://margaret.example/avatar.jpg"
    assert lunch.title is None
    assert "#dk2025" in (lunch.content_html or "")
    assert lunch.created_at == datetime(2025, 5, 17, 10, 30, tzinfo=UTC)
    assert found.dropped == 1


def test_json_feed_is_recognised_without_its_content_type() -> None:
    found = select(read("feed.json"), content_type="text/plain")
    assert len(found.posts) == 2


@pytest.mark.parametrize("name", ["rss2.xml", "atom.xml", "feed.json"])
def test_a_feed_registered_to_events_keeps_every_entry_since(name: str) -> None:
    since = datetime(2025, 5, 1, tzinfo=UTC)
    found = select(read(name), Selection(event_ids=(7, 9), since=since))

    doc = parse_feed(read(name), url=FEED_URL)
    recent = [e for e in doc.entries if (e.published or e.updated or NOW) >= since]
    assert len(found.posts) == len(recent) >= 3
    assert all(p.event_ids == [7, 9] for p in found.posts)
    assert found.dropped == len(doc.entries) - len(recent)


# --- entries the real world writes -------------------------------------------------


def test_undated_entries_do_not_count_when_since_is_set() -> None:
    body = rss("<item><title>No date #dk2025</title><guid>https://blog.example/1</guid></item>")
    assert select(body, Selection(event_ids=(1,), since=NOW - timedelta(days=1))).posts == []
    assert len(select(body, Selection(event_ids=(1,))).posts) == 1


def test_a_future_date_is_clamped_to_now() -> None:
    body = rss(
        "<item><title>From the future #dk2025</title><guid>https://blog.example/f</guid>"
        "<pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate></item>"
    )
    (post,) = select(body).posts
    assert post.created_at == NOW


def test_entries_without_id_or_link_or_content_are_malformed() -> None:
    body = rss(
        "<item><title>No id, no link #dk2025</title></item>",
        "<item><guid>https://blog.example/empty</guid></item>",
        "<item><title>Fine #dk2025</title><link>https://blog.example/fine</link></item>",
    )
    found = select(body)
    assert [p.title for p in found.posts] == ["Fine #dk2025"]
    assert found.posts[0].source_uri == "https://blog.example/fine"
    assert found.malformed == 2


def test_json_feed_items_that_are_not_items_are_malformed() -> None:
    feed = {
        "version": "https://jsonfeed.org/version/1",
        "title": "J",
        "items": [
            "not an object",
            {"id": "x"},
            {"id": 42, "content_text": "numeric ids happen #dk2025"},
            {
                "id": "https://j.example/2",
                "content_html": "<p>ok #dk2025</p>",
                "date_published": "yesterday",
            },
        ],
    }
    found = select(orjson.dumps(feed))
    assert [p.source_uri for p in found.posts] == [f"{FEED_URL}#42", "https://j.example/2"]
    assert found.posts[1].created_at is None  # an unreadable date is no date
    assert found.malformed == 2


def test_an_authors_email_address_is_not_shown_as_their_name() -> None:
    body = rss(
        "<item><title>#dk2025</title><guid>https://blog.example/a</guid>"
        "<author>ada@blog.example</author></item>"
    )
    (post,) = select(body).posts
    assert post.author is not None
    assert post.author.display_name == "Blog"
    assert post.author.acct == f"blog_{DIGEST}@feeds.example"


def test_each_author_of_a_planet_gets_an_account_of_their_own() -> None:
    body = rss(
        "<item><title>A #dk2025</title><guid>https://p.example/a</guid>"
        "<dc:creator xmlns:dc='http://purl.org/dc/elements/1.1/'>Ada Lovelace</dc:creator></item>",
        "<item><title>G #dk2025</title><guid>https://p.example/g</guid>"
        "<dc:creator xmlns:dc='http://purl.org/dc/elements/1.1/'>Grace Hopper</dc:creator></item>",
    )
    ada, grace = (p.author for p in select(body).posts)
    assert ada is not None and grace is not None
    assert (ada.acct, ada.actor_uri) == (
        f"ada_lovelace_{DIGEST}@feeds.example",
        f"{FEED_URL}#ada_lovelace",
    )
    assert (grace.acct, grace.actor_uri) == (
        f"grace_hopper_{DIGEST}@feeds.example",
        f"{FEED_URL}#grace_hopper",
    )


def test_authors_of_two_feeds_on_one_host_never_share_an_account() -> None:
    item = "<item><title>#dk2025</title><guid>https://m.example/{0}</guid></item>"
    first = parse_feed(rss(item.format(1)), url="https://m.example/feed/@ada")
    second = parse_feed(rss(item.format(2)), url="https://m.example/feed/@mallory")
    (ada,) = select_posts(
        first, feed_url="https://m.example/feed/@ada", selection=DK, now=NOW
    ).posts
    (other,) = select_posts(
        second, feed_url="https://m.example/feed/@mallory", selection=DK, now=NOW
    ).posts
    assert ada.author is not None and other.author is not None
    assert ada.author.display_name == other.author.display_name == "Blog"
    assert ada.author.acct != other.author.acct
    assert ada.author.actor_uri != other.author.actor_uri


def test_categories_are_tags_and_spaced_ones_are_joined() -> None:
    body = rss(
        "<item><title>t</title><guid>https://blog.example/c</guid>"
        "<category>Data Konferenz</category><category>#DK2025</category>"
        "<category>2025</category></item>"
    )
    (post,) = select(body).posts
    assert post.tags == ["datakonferenz", "dk2025"]


def test_a_plain_text_summary_is_escaped() -> None:
    body = rss(
        "<item><title>t #dk2025</title><guid>https://blog.example/p</guid>"
        "<description>a &lt;b&gt; is not bold</description></item>"
    )
    # RSS descriptions are HTML by definition: <b> stays markup (ingest sanitises it).
    (post,) = select(body).posts
    assert post.content_html == "a <b> is not bold"
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "items": [{"id": "https://j.example/1", "content_text": "x <b>y</b> #dk2025"}],
    }
    (post,) = select(orjson.dumps(feed)).posts
    assert post.content_html == "<p>x &lt;b&gt;y&lt;/b&gt; #dk2025</p>"


# --- bodies that are no feed -------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"", "application/rss+xml", "empty"),
        (b"<html><body><p>Blog moved</p></body></html>", "text/html", "not an RSS, Atom or JSON"),
        (b"just some words", "text/plain", "not an RSS, Atom or JSON"),
        (bytes(range(256)) * 4, "application/octet-stream", "not an RSS, Atom or JSON"),
        (b'{"title": "no version"', "application/json", "not valid JSON"),
        (b'{"version": "1", "items": []}', "application/json", "not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1"}', "", "no list of items"),
    ],
)
def test_a_body_that_is_no_feed_is_refused_with_a_reason(
    body: bytes, content_type: str, message: str
) -> None:
    with pytest.raises(FeedParseError, match=message):
        parse_feed(body, url=FEED_URL, content_type=content_type)


def test_a_blog_page_instead_of_its_feed_points_to_the_feed() -> None:
    page = (
        b"<!doctype html><html><head><title>Ada</title>"
        b'<link rel="stylesheet" href="/style.css">'
        b'<link rel="alternate" type="application/rss+xml" title="RSS" href="/feed.xml">'
        b'<link rel="alternate" type="application/atom+xml" href="https://ada.example/atom">'
        b"</head><body>Hello</body></html>"
    )
    assert discover_feeds(page, "https://ada.example/blog/") == [
        "https://ada.example/feed.xml",
        "https://ada.example/atom",
    ]
    with pytest.raises(FeedParseError, match="feed at https://ada.example/feed.xml"):
        parse_feed(page, url="https://ada.example/blog/", content_type="text/html")


def test_a_truncated_feed_is_refused() -> None:
    body = read("rss2.xml")
    for cut in (len(body) // 3, len(body) // 2, len(body) - 20):
        with pytest.raises(FeedParseError, match="truncated"):
            parse_feed(body[:cut], url=FEED_URL)


def test_sloppy_but_complete_xml_is_read() -> None:
    # An undefined &nbsp; makes this not well-formed XML; feeds like it are common.
    body = rss(
        "<item><title>Caf&eacute;&nbsp;talk #dk2025</title><guid>https://b.example/1</guid></item>"
    )
    (post,) = select(body).posts
    assert post.title == "Café\xa0talk #dk2025"


def test_an_entity_bomb_is_refused_before_it_is_expanded() -> None:
    levels = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol0 "lol">{levels}]>'
        '<rss version="2.0"><channel><title>&lol9;</title></channel></rss>'
    ).encode()
    started = time.perf_counter()
    with pytest.raises(FeedParseError, match="entit"):
        parse_feed(body, url=FEED_URL)
    assert time.perf_counter() - started < 0.5


def test_plain_entity_declarations_are_allowed() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY nbsp "&#160;"><!ENTITY me "Ada">]>'
        b'<rss version="2.0"><channel><title>&me;</title><item><title>Hi&nbsp;#dk2025</title>'
        b"<guid>https://b.example/1</guid></item></channel></rss>"
    )
    doc = parse_feed(body, url=FEED_URL)
    assert doc.title == "Ada"
    assert len(doc.entries) == 1
