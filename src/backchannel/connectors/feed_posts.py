"""Which entries of a feed count for the events using it, and each as the ``PostIn``
that ingest takes.

A blog post is long. On a wall it is its title, a summary and a link: the feed's own
summary when it has a short one, else the first ~500 characters of the content's
text, cut at a word. Hashtags anywhere in the full text still count (they go in
``PostIn.tags``), so a ``#tag`` in the last paragraph puts the post on the wall too.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from pydantic import ValidationError

from backchannel.connectors.feed_entries import FeedDocument, FeedEntry
from backchannel.kit.urls import safe_url
from backchannel.people.schemas import AuthorIn
from backchannel.posts.hashtags import extract_hashtags, normalize_tag
from backchannel.posts.html import html_to_text, sanitize_html
from backchannel.posts.models import SourceKind
from backchannel.posts.schemas import MediaIn, PostIn

__all__ = [
    "FeedPosts",
    "Selection",
    "entry_tags",
    "feed_acct_digest",
    "select_posts",
    "summary_html",
]

#: Characters of text a summary made from a post's full content keeps.
SUMMARY_CHARS = 500
#: A feed's own summary is kept as it is (with its links and emphasis) up to this
#: much text; a longer one is cut like full content.
KEEP_SUMMARY_CHARS = 1000
#: ... and up to this much markup (a short text wrapped in megabytes of markup is cut).
KEEP_SUMMARY_HTML = 20_000
MAX_TAGS = 100
MAX_TITLE = 1024
#: ``PostIn.event_ids`` takes at most this many.
MAX_EVENT_IDS = 50
#: Hex digits of the feed URL's digest in an author's acct: 64 bits, too many to
#: find another URL with the same digest by trying.
ACCT_DIGEST_CHARS = 16

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_LANGUAGE_RE = re.compile(r"[a-zA-Z]{2,3}([-_][a-zA-Z0-9]+)?")
_NOT_ACCT_RE = re.compile(r"[^a-z0-9]+")
# Category words a tag-minded person would join: "Data Konferenz" is #DataKonferenz.
_CATEGORY_JOINERS_RE = re.compile(r"[\s\-.]+")


@dataclass(frozen=True)
class Selection:
    """What the events using a feed want from it."""

    #: Normalised tags (no ``#``): an entry carrying one counts.
    tags: frozenset[str] = frozenset()
    #: Events for which every entry counts (a feed registered to the event).
    event_ids: tuple[int, ...] = ()
    #: Entries published before this are ignored.
    since: datetime | None = None


@dataclass
class FeedPosts:
    posts: list[PostIn] = field(default_factory=list)
    #: Entries that did not count: no wanted tag, too old, or undated with ``since``.
    dropped: int = 0
    malformed: int = 0


def select_posts(
    doc: FeedDocument, *, feed_url: str, selection: Selection, now: datetime
) -> FeedPosts:
    """The posts of ``doc`` that count, and how many did not (or could not be read)."""
    result = FeedPosts(malformed=doc.malformed)
    authors = _Authors(doc, feed_url)
    for entry in doc.entries:
        published = entry.published or entry.updated
        if selection.since is not None and (published is None or published < selection.since):
            # An undated entry may be ten years old: with a ``since`` it cannot count.
            result.dropped += 1
            continue
        tags = entry_tags(entry)
        if not selection.event_ids and selection.tags.isdisjoint(tags):
            result.dropped += 1
            continue
        try:
            post = _post(entry, tags, authors, feed_url, doc.language, selection, now)
        except ValidationError:
            result.malformed += 1
            continue
        result.posts.append(post)
    return result


def entry_tags(entry: FeedEntry) -> list[str]:
    """Normalised tags of an entry: its categories, then hashtags in its title and text."""
    tags: list[str] = []
    for category in entry.categories:
        tag = normalize_tag(category) or normalize_tag(_CATEGORY_JOINERS_RE.sub("", category))
        if tag is not None:
            tags.append(tag)
    if entry.title:
        tags.extend(extract_hashtags(entry.title))
    for markup in dict.fromkeys((entry.content_html, entry.summary_html)):
        if markup:
            tags.extend(extract_hashtags(html_to_text(markup)))
    return list(dict.fromkeys(tags))[:MAX_TAGS]


def summary_html(entry: FeedEntry) -> str:
    """What a wall shows of the entry besides its title (HTML; ingest sanitises it)."""
    own = entry.summary_html
    if own and own != entry.content_html:
        return _shortened(own, KEEP_SUMMARY_CHARS)
    source = entry.content_html or own
    return _shortened(source, SUMMARY_CHARS) if source else ""


def _shortened(markup: str, keep_chars: int) -> str:
    text = html_to_text(sanitize_html(markup))
    if len(text) <= keep_chars and len(markup) <= KEEP_SUMMARY_HTML:
        return markup
    return _paragraphs(_truncate(text, SUMMARY_CHARS))


def _truncate(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters at a word boundary, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" \n,;:-–—") + "…"


def _paragraphs(text: str) -> str:
    return "".join(
        "<p>" + html.escape(p.strip()).replace("\n", "<br>") + "</p>"
        for p in text.split("\n\n")
        if p.strip()
    )


class _Authors:
    """Who wrote an entry, as a stable remote account.

    Most feeds are one person's blog: every entry goes to one account, found by the
    feed's URL (``actor_uri``). A feed naming several authors (a planet, a team blog)
    gives each author an account of their own, ``FEED_URL#name``.

    The acct is ``name_DIGEST@feed-host``, the digest taken from the feed's URL.
    Accounts are also found by acct, so without it two feeds on one host (medium.com,
    a Mastodon server's RSS) whose authors share a name would share an account, and
    anyone able to publish a feed there could post as somebody else's.
    """

    def __init__(self, doc: FeedDocument, feed_url: str) -> None:
        self._doc = doc
        self._feed_url = feed_url
        named = {e.author_name: _acct_name(e.author_name) for e in doc.entries if e.author_name}
        self._shared = len(set(named.values())) <= 1
        single = next(iter(named), None) if self._shared else None
        self._feed_name = single or doc.author_name or doc.title or None
        self._digest = feed_acct_digest(feed_url)
        parts = urlsplit(feed_url)
        host = (parts.hostname or "feed").lower()
        if ":" in host:
            host = f"[{host}]"
        self._domain = f"{host}:{parts.port}" if parts.port else host

    def for_entry(self, entry: FeedEntry) -> AuthorIn:
        name = self._feed_name if self._shared else (entry.author_name or self._feed_name)
        slug = _acct_name(name) if name else "feed"
        actor_uri = self._feed_url if self._shared else f"{self._feed_url}#{slug}"
        return AuthorIn(
            source="feed",
            acct=f"{slug}_{self._digest}@{self._domain}",
            display_name=name or self._domain,
            profile_url=self._doc.site_url,
            actor_uri=actor_uri,
            avatar_url=self._doc.author_avatar or self._doc.icon_url,
        )


def _acct_name(name: str) -> str:
    """``Ada Lovelace`` → ``ada_lovelace``: Latin letters folded to ASCII, the rest ``_``."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return _NOT_ACCT_RE.sub("_", folded).strip("_")[:40].strip("_") or "feed"


def feed_acct_digest(feed_url: str) -> str:
    """The part of a feed author's acct that ties it to the feed."""
    return hashlib.sha256(feed_url.encode()).hexdigest()[:ACCT_DIGEST_CHARS]


def _source_uri(entry: FeedEntry, feed_url: str) -> str:
    # A bare guid ("123") is unique in its feed only; tie it to the feed.
    return entry.key if _SCHEME_RE.match(entry.key) else f"{feed_url}#{entry.key}"


def _post(
    entry: FeedEntry,
    tags: list[str],
    authors: _Authors,
    feed_url: str,
    language: str | None,
    selection: Selection,
    now: datetime,
) -> PostIn:
    published = entry.published or entry.updated
    # A post dated in the future would sit on top of a time-ordered wall for good.
    created_at = min(published, now) if published else None
    edited_at = None
    if entry.published and entry.updated and entry.updated > entry.published:
        edited_at = min(entry.updated, now)
    image = safe_url(entry.image_url)
    return PostIn(
        source=SourceKind.FEED,
        source_uri=_source_uri(entry, feed_url),
        url=entry.link or (entry.key if safe_url(entry.key) else None),
        author=authors.for_entry(entry),
        content_html=summary_html(entry),
        title=entry.title[:MAX_TITLE] if entry.title else None,
        language=language if language and _LANGUAGE_RE.fullmatch(language) else None,
        created_at=created_at,
        edited_at=edited_at,
        media=[MediaIn(url=image)] if image else [],
        tags=tags,
        event_ids=list(selection.event_ids[:MAX_EVENT_IDS]),
    )
