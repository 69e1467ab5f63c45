from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from backchannel.posts.hashtags import (
    Entity,
    extract_hashtags,
    extract_mentions,
    find_entities,
    normalize_tag,
)

# --- normalize_tag ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("foo", "foo"),
        ("#foo", "foo"),
        ("＃foo", "foo"),
        ("  #Foo  ", "foo"),
        ("FOO", "foo"),
        ("dk2018", "dk2018"),
        ("Überwachung", "uberwachung"),
        ("#Café", "cafe"),
        ("Straße", "strasse"),
        ("ÆØÅ", "aeoa"),
        ("Łódź", "lodz"),
        ("İstanbul", "istanbul"),
        ("Tiếng_Việt", "tieng_viet"),
        ("Cafe\u0301", "cafe"),  # decomposed é
        ("ｆｏｏ", "foo"),  # fullwidth
        ("東京", "東京"),
        ("ｶﾞｰﾃﾞﾝ", "ガーデン"),  # halfwidth katakana
        ("Москва", "москва"),
        ("Ёлка", "ёлка"),  # Cyrillic keeps its diacritics
        ("हिन्दी", "हिन्दी"),  # combining marks of other scripts are kept
        ("ภาษาไทย", "ภาษาไทย"),
        ("한국어", "한국어"),
        ("ΚΑΛΗΜΕΡΑ", "καλημερα"),
        ("foo_bar", "foo_bar"),
        ("_foo", "_foo"),
        ("foo·bar", "foo·bar"),
        ("foo・bar", "foo・bar"),
        ("foo\u200cbar", "foo\u200cbar"),
        ("ﬁsh", "fish"),
        ("a" * 255, "a" * 255),
    ],
)
def test_normalize_tag(raw: str, expected: str) -> None:
    assert normalize_tag(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "#",
        "＃",
        "   ",
        "2018",
        "#2018",
        "２０１８",
        "_",
        "1_2",
        "foo-bar",
        "foo bar",
        "foo.bar",
        "foo#bar",
        "##foo",
        "foo!",
        "<script>",
        "·foo",
        "foo·",
        "foo\u200c",
        "\u200cfoo",
        "a" * 256,
        "é" * 300,
        "emoji😀",
    ],
)
def test_normalize_tag_rejects(raw: str) -> None:
    assert normalize_tag(raw) is None


@given(st.text(max_size=40))
@example("İ")
@example("ß")
@example("ǅ")
@example("ẞ")
def test_normalize_tag_is_idempotent(raw: str) -> None:
    tag = normalize_tag(raw)
    if tag is not None:
        assert normalize_tag(tag) == tag
        assert normalize_tag("#" + tag) == tag
        assert 0 < len(tag) <= 255
        assert tag == tag.casefold() or normalize_tag(tag.casefold()) == tag


# --- extract_hashtags ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#foo", ["foo"]),
        ("hello #World!", ["world"]),
        ("(#dk2018)", ["dk2018"]),
        ("„#dk2018“", ["dk2018"]),
        ("«#dk2018»", ["dk2018"]),
        ('"#dk2018"', ["dk2018"]),
        ("[#a1]", ["a1"]),
        ("#foo, #bar. #baz?", ["foo", "bar", "baz"]),
        ("#Überwachung", ["uberwachung"]),
        ("Wir in #München und #Straße", ["munchen", "strasse"]),
        ("#東京 と ＃大阪", ["東京", "大阪"]),
        ("東京#タワー", []),  # preceded by a letter
        ("今日は #東京タワー。", ["東京タワー"]),
        ("#Foo #foo #FOO", ["foo"]),
        ("#b #a #b", ["b", "a"]),
        ("#2018 #dk2018", ["dk2018"]),
        ("#_", []),
        ("a#b", []),
        ("1#b", []),
        ("x_#y", ["y"]),  # only letters and digits block, not "_"
        ("ab/#foo", []),
        ("(x)#foo", []),
        ("a=#foo", []),
        ("-#foo", ["foo"]),
        ("##foo", ["foo"]),
        ("#foo#bar", ["foo"]),
        ("# foo", []),
        ("#-foo", []),
        ("#foo-bar", ["foo"]),
        ("#foo_bar", ["foo_bar"]),
        ("#foo·bar #baz・qux", ["foo·bar", "baz・qux"]),
        ("#foo· #bar・ #baz\u200c", ["foo", "bar", "baz"]),
        ("#·foo", []),
        ("#हिन्दी भाषा", ["हिन्दी"]),
        ("e\u0301#foo", []),  # after a letter with a combining accent
        ("line one\n#tag", ["tag"]),
        ("https://x.org/page#section", []),
        ("https://x.org/#section", []),
        ("https://x.org/page?a=1#sec", []),
        ("https://x.org/page-#sec", []),  # inside a link
        ("see https://x.org/page#section and #real", ["real"]),
        ("(https://x.org/a) #after", ["after"]),
        ("@user#tag", []),
        ("#https://x.org/", []),  # the link wins
        ("#foo\x00#bar", ["foo", "bar"]),
        ("&#x27;", ["x27"]),  # plain text: entities are not special
        ("", []),
        ("no tags here", []),
    ],
)
def test_extract_hashtags(text: str, expected: list[str]) -> None:
    assert extract_hashtags(text) == expected


def test_long_tag_is_not_a_tag() -> None:
    assert extract_hashtags("#" + "a" * 256) == []
    assert extract_hashtags("#" + "a" * 255) == ["a" * 255]


tag_text = st.lists(
    st.sampled_from(
        list("ab Z9_#＃·・\u200c/)=(@.:-\n\"'„“")
        + ["https://x.org/", "é", "東", "ß", "İ", "\u0301"]
    ),
    max_size=40,
).map("".join)


@given(st.one_of(tag_text, st.text(max_size=80)))
def test_extracted_tags_are_normalized_and_unique(text: str) -> None:
    tags = extract_hashtags(text)
    assert len(tags) == len(set(tags))
    for tag in tags:
        assert normalize_tag(tag) == tag
        assert normalize_tag("#" + tag) == tag


@given(tag_text)
def test_extract_hashtags_is_stable_under_reextraction(text: str) -> None:
    tags = extract_hashtags(text)
    assert extract_hashtags(" ".join("#" + t for t in tags)) == tags


# --- extract_mentions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@alice", ["alice"]),
        ("hi @alice!", ["alice"]),
        ("@Alice", ["Alice"]),
        ("@alice @Alice @ALICE", ["alice"]),
        ("@bob@Mastodon.Social", ["bob@mastodon.social"]),
        ("@bob@mastodon.social.", ["bob@mastodon.social"]),
        ("(@bob@example.org)", ["bob@example.org"]),
        ("@first.last", ["first.last"]),
        ("@alice.", ["alice"]),
        ("@alice-", ["alice"]),
        ("@alice's post", ["alice"]),
        ("@a @b@x.org @a", ["a", "b@x.org"]),
        ("mail a@b.c or first.last@example.org", []),
        ("x@y", []),
        ("https://mastodon.social/@Gargron", []),
        ("https://x.org/?u=@alice", []),
        ("a=@alice", []),
        ("@@alice", []),
        ("@", []),
        ("@ alice", []),
        ("@-alice", []),
        ("@bob@bücher.example", ["bob@bücher.example"]),
        ("", []),
    ],
)
def test_extract_mentions(text: str, expected: list[str]) -> None:
    assert extract_mentions(text) == expected


@given(st.text(max_size=80))
def test_mentions_are_wellformed(text: str) -> None:
    mentions = extract_mentions(text)
    assert len({m.casefold() for m in mentions}) == len(mentions)
    for mention in mentions:
        assert mention and not mention.startswith("@")
        assert mention.count("@") <= 1
        if "@" in mention:
            assert mention.split("@", 1)[1] == mention.split("@", 1)[1].lower()


# --- find_entities ---------------------------------------------------------------------


def test_find_entities_orders_and_spans() -> None:
    text = "Hi @alice, see https://x.org/a#b (#Tag)."
    entities = find_entities(text)
    assert entities == [
        Entity("mention", 3, 9, "alice"),
        Entity("url", 15, 32, "https://x.org/a#b"),
        Entity("hashtag", 34, 38, "tag"),
    ]
    assert [text[e.start : e.end] for e in entities] == ["@alice", "https://x.org/a#b", "#Tag"]


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("see https://x.org/a.", "https://x.org/a"),
        ("see https://x.org/a, then", "https://x.org/a"),
        ("(see https://x.org/a)", "https://x.org/a"),
        ("https://en.wikipedia.org/wiki/Foo_(bar)", "https://en.wikipedia.org/wiki/Foo_(bar)"),
        ("(https://en.wikipedia.org/wiki/Foo_(bar))", "https://en.wikipedia.org/wiki/Foo_(bar)"),
        ("„https://x.org/a“", "https://x.org/a"),
        ("HTTPS://X.ORG/A", "HTTPS://X.ORG/A"),
        ("<https://x.org/a>", "https://x.org/a"),
        ("https://x.org/?q=1&r=2!", "https://x.org/?q=1&r=2"),
    ],
)
def test_urls(text: str, url: str) -> None:
    assert [e.value for e in find_entities(text) if e.kind == "url"] == [url]


def test_url_after_a_glued_one() -> None:
    urls = [e.value for e in find_entities("xhttps://a.org,https://b.org") if e.kind == "url"]
    assert urls == ["https://b.org"]


@pytest.mark.parametrize("text", ["xhttps://x.org", "https://", "https:///a", "javascript:x"])
def test_not_urls(text: str) -> None:
    assert [e for e in find_entities(text) if e.kind == "url"] == []


@given(tag_text)
def test_entities_do_not_overlap(text: str) -> None:
    entities = find_entities(text)
    for a, b in zip(entities, entities[1:], strict=False):
        assert a.end <= b.start
    for entity in entities:
        assert 0 <= entity.start < entity.end <= len(text)
