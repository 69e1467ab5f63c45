"""A fetched feed body, read into plain entries: RSS and Atom through feedparser, JSON
Feed (https://jsonfeed.org/version/1.1) by hand.

Pure and synchronous (no I/O), so the runtime can run it in a thread for big bodies.
What a real-world feed gets wrong in one entry costs that entry (``malformed``), not
the feed; a body that is no feed at all raises ``FeedParseError`` with a message an
organiser can act on.
"""

from __future__ import annotations

import calendar
import html
import io
import re
import time
import xml.parsers.expat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import feedparser
import orjson

__all__ = ["FeedDocument", "FeedEntry", "FeedParseError", "discover_feeds", "parse_feed"]

JSON_FEED_VERSIONS = ("https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1")

# XML errors that mean the body stopped early (a truncated download), as opposed to
# the sloppiness many real feeds have (an undefined ``&nbsp;``) that feedparser's
# lenient parser reads fine.
_TRUNCATED = frozenset(
    {
        xml.parsers.expat.errors.XML_ERROR_NO_ELEMENTS,
        xml.parsers.expat.errors.XML_ERROR_UNCLOSED_TOKEN,
        xml.parsers.expat.errors.XML_ERROR_PARTIAL_CHAR,
        xml.parsers.expat.errors.XML_ERROR_UNCLOSED_CDATA_SECTION,
    }
)
# Entity declarations before the first element. A safe one names plain text or one
# character reference (what feedparser itself keeps); anything else -- entities made
# of entities, external or parameter entities -- is how entity bombs are built.
_FIRST_ELEMENT_RE = re.compile(rb"<[A-Za-z_]")
_ENTITY_DECL_RE = re.compile(rb"<!ENTITY([^>]*)>")
_SAFE_ENTITY_RE = re.compile(rb"""\s+[\w.-]+\s+(?:"(?:&#\w+;|[^&%"]*)"|'(?:&#\w+;|[^&%']*)')\s*""")
_MAX_ENTITY_DECLS = 200
# Feed links sit in a page's <head>; no need to read a whole page for them.
_DISCOVERY_BYTES = 256_000
_EMAIL_RE = re.compile(r"<?[^\s<>()@]+@[^\s<>()]+>?")


class FeedParseError(ValueError):
    """The body is not a feed this server can read; the message says why."""


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One entry as any of the three formats states it."""

    #: The entry's id (guid) if it has one, else its link: never empty.
    key: str
    link: str | None
    title: str | None
    #: The feed's own summary, as HTML (plain-text summaries are escaped).
    summary_html: str | None
    #: The full content, as HTML.
    content_html: str | None
    published: datetime | None
    updated: datetime | None
    categories: tuple[str, ...] = ()
    author_name: str | None = None
    image_url: str | None = None


@dataclass(frozen=True, slots=True)
class FeedDocument:
    #: feedparser's version ("rss20", "atom10", …) or "json1" / "json1.1".
    format: str
    title: str
    site_url: str | None
    icon_url: str | None
    author_name: str | None
    author_avatar: str | None
    language: str | None
    entries: list[FeedEntry] = field(default_factory=list)
    #: Entries skipped because they could not be read (no id and no link, …).
    malformed: int = 0


def parse_feed(body: bytes, *, url: str, content_type: str = "") -> FeedDocument:
    """Read ``body`` (fetched from ``url``) as JSON Feed, RSS or Atom.

    The body's first character decides (servers mislabel feeds often enough), then
    the content type. Raises ``FeedParseError`` when the body is none of them.
    """
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise FeedParseError("the feed is empty")
    mime = content_type.split(";", 1)[0].strip().lower()
    if stripped[:1] in (b"{", b"[") or (stripped[:1] != b"<" and "json" in mime):
        return _parse_json_feed(stripped, url)
    return _parse_xml_feed(body, url, content_type)


# --- RSS and Atom ------------------------------------------------------------------


def _refuse_entity_bombs(body: bytes) -> None:
    first = _FIRST_ELEMENT_RE.search(body)
    prolog = body[: first.start()] if first else body
    if b"<!ENTITY" not in prolog:
        return
    declarations = _ENTITY_DECL_RE.findall(prolog)
    if len(declarations) > _MAX_ENTITY_DECLS or not all(
        _SAFE_ENTITY_RE.fullmatch(d) for d in declarations
    ):
        raise FeedParseError(
            "the feed declares XML entities built from other entities (or external "
            "ones); they are not expanded, as that is how entity bombs work"
        )


def _parse_xml_feed(body: bytes, url: str, content_type: str) -> FeedDocument:
    _refuse_entity_bombs(body)
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    # A BytesIO, never the bytes: feedparser treats a string as a URL or a file name.
    # Its own sanitiser is off: ingest sanitises every post's HTML (nh3), faster.
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers, sanitize_html=False)
    version = parsed.get("version") or ""
    problem = parsed.get("bozo_exception")
    if problem is not None and _is_truncated(problem):
        raise FeedParseError(f"the feed stops in the middle (truncated?): {problem}")
    if not version:
        mime = content_type.split(";", 1)[0].strip() or "no content type"
        links = discover_feeds(body, url)
        if links:
            raise FeedParseError(
                f"this is a web page, not its feed; the page names its feed at {links[0]}: "
                "register that address instead"
            )
        detail = f" ({problem})" if problem is not None and mime != "text/html" else ""
        raise FeedParseError(f"this is not an RSS, Atom or JSON feed ({mime}){detail}")
    feed: Mapping[str, Any] = parsed.get("feed", {})
    image = feed.get("image") or {}
    entries: list[FeedEntry] = []
    malformed = 0
    for raw in parsed.get("entries", []):
        entry = _xml_entry(raw, url)
        if entry is None:
            malformed += 1
        else:
            entries.append(entry)
    return FeedDocument(
        format=version,
        title=_text(feed.get("title")) or "",
        site_url=_absolute(feed.get("link"), url),
        icon_url=_absolute(image.get("href") or feed.get("icon") or feed.get("logo"), url),
        author_name=_person_name(feed.get("author_detail"), feed.get("author")),
        author_avatar=None,
        language=_text(feed.get("language")),
        entries=entries,
        malformed=malformed,
    )


def _is_truncated(problem: object) -> bool:
    message = problem.getMessage() if hasattr(problem, "getMessage") else ""
    return message in _TRUNCATED


def _xml_entry(raw: Mapping[str, Any], url: str) -> FeedEntry | None:
    link = _absolute(raw.get("link"), url)
    key = _text(raw.get("id")) or link
    if not key:
        return None
    title = _text(raw.get("title"))
    if title and raw.get("title_detail", {}).get("type") == "text/html":
        title = _text(_strip_tags(title))
    content = _xml_content(raw.get("content"))
    summary = _xml_summary(raw.get("summary_detail"), raw.get("summary"))
    if not (title or content or summary):
        return None
    return FeedEntry(
        key=key,
        link=link,
        title=title,
        summary_html=summary,
        content_html=content,
        published=_struct_time(raw.get("published_parsed")),
        # Not raw.get: feedparser maps a missing updated_parsed to published_parsed
        # (with a DeprecationWarning); ``in`` tells whether the entry has its own.
        updated=_struct_time(raw["updated_parsed"] if "updated_parsed" in raw else None),
        categories=tuple(
            term
            for tag in raw.get("tags") or []
            if isinstance(tag, Mapping) and (term := _text(tag.get("term") or tag.get("label")))
        ),
        author_name=_person_name(raw.get("author_detail"), raw.get("author")),
        image_url=_xml_image(raw, url),
    )


def _xml_content(content: Any) -> str | None:
    if not isinstance(content, list):
        return None
    best: str | None = None
    for part in content:
        if not isinstance(part, Mapping) or not isinstance(part.get("value"), str):
            continue
        if part.get("type") in ("text/html", "application/xhtml+xml"):
            return str(part["value"])
        best = best or _escaped(part["value"])
    return best


def _xml_summary(detail: Any, summary: Any) -> str | None:
    if not isinstance(summary, str) or not summary.strip():
        return None
    if isinstance(detail, Mapping) and detail.get("type") == "text/plain":
        return _escaped(summary)
    return summary


def _xml_image(raw: Mapping[str, Any], url: str) -> str | None:
    for thumb in raw.get("media_thumbnail") or []:
        if isinstance(thumb, Mapping) and thumb.get("url"):
            return _absolute(thumb["url"], url)
    for media in raw.get("media_content") or []:
        if isinstance(media, Mapping) and media.get("medium") == "image" and media.get("url"):
            return _absolute(media["url"], url)
    for link in raw.get("links") or []:
        if (
            isinstance(link, Mapping)
            and link.get("rel") == "enclosure"
            and str(link.get("type", "")).startswith("image/")
        ):
            return _absolute(link.get("href"), url)
    return None


def _struct_time(value: Any) -> datetime | None:
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


_FEED_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/feed+json", "application/json"}
)


class _FeedLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "link":
            return
        found = {k: (v or "").strip() for k, v in attrs}
        rels = found.get("rel", "").lower().split()
        if "alternate" in rels and found.get("type", "").lower() in _FEED_TYPES:
            self.hrefs.append(found.get("href", ""))


def discover_feeds(page: bytes, url: str) -> list[str]:
    """The feeds a web page names (``<link rel="alternate" type="application/rss+xml">``
    and its Atom and JSON Feed kin), as absolute URLs, in page order."""
    reader = _FeedLinks()
    reader.feed(page[:_DISCOVERY_BYTES].decode("utf-8", "replace"))
    links = (_absolute(href, url) for href in reader.hrefs)
    return list(dict.fromkeys(link for link in links if link))


# --- JSON Feed ---------------------------------------------------------------------


def _parse_json_feed(body: bytes, url: str) -> FeedDocument:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FeedParseError(f"the feed is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FeedParseError("this JSON is not a JSON Feed (not an object)")
    version = data.get("version")
    if not isinstance(version, str) or version.rstrip("/") not in JSON_FEED_VERSIONS:
        raise FeedParseError(
            f"this JSON is not a JSON Feed (version {str(version)[:100]!r}, expected "
            "https://jsonfeed.org/version/1 or 1.1)"
        )
    items = data.get("items")
    if not isinstance(items, list):
        raise FeedParseError("this JSON Feed has no list of items")
    author = _json_author(data)
    entries: list[FeedEntry] = []
    malformed = 0
    for item in items:
        entry = _json_entry(item, url) if isinstance(item, dict) else None
        if entry is None:
            malformed += 1
        else:
            entries.append(entry)
    icon = _json_str(data, "icon") or _json_str(data, "favicon")
    return FeedDocument(
        format="json" + version.rstrip("/").rsplit("/", 1)[-1],
        title=_json_str(data, "title") or "",
        site_url=_absolute(_json_str(data, "home_page_url"), url),
        icon_url=_absolute(icon, url),
        author_name=_json_str(author, "name"),
        author_avatar=_absolute(_json_str(author, "avatar"), url),
        language=_json_str(data, "language"),
        entries=entries,
        malformed=malformed,
    )


def _json_author(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The first author: ``authors`` (1.1) or ``author`` (1.0)."""
    authors = obj.get("authors")
    if isinstance(authors, list) and authors and isinstance(authors[0], dict):
        return authors[0]
    author = obj.get("author")
    return author if isinstance(author, dict) else {}


def _json_entry(item: Mapping[str, Any], url: str) -> FeedEntry | None:
    link = _absolute(_json_str(item, "url"), url)
    raw_id = item.get("id")
    # The spec says a string; numbers are common in the wild and just as unique.
    key = str(raw_id).strip() if isinstance(raw_id, str | int) and str(raw_id).strip() else link
    if not key:
        return None
    content = _json_str(item, "content_html")
    if content is None and (text := _json_str(item, "content_text")) is not None:
        content = _escaped(text)
    summary = _json_str(item, "summary")
    title = _json_str(item, "title")
    if not (title or content or summary):
        return None
    tags = item.get("tags")
    return FeedEntry(
        key=key,
        link=link,
        title=title,
        summary_html=_escaped(summary) if summary else None,
        content_html=content,
        published=_iso_datetime(item.get("date_published")),
        updated=_iso_datetime(item.get("date_modified")),
        categories=tuple(t.strip() for t in tags if isinstance(t, str) and t.strip())
        if isinstance(tags, list)
        else (),
        author_name=_json_str(_json_author(item), "name"),
        image_url=_absolute(_json_str(item, "image") or _json_str(item, "banner_image"), url),
    )


def _json_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value.strip() or None if isinstance(value, str) else None


def _iso_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# --- shared ------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _escaped(text: str) -> str:
    return "".join(f"<p>{html.escape(p.strip())}</p>" for p in text.split("\n\n") if p.strip())


def _strip_tags(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", markup))


def _absolute(link: Any, base: str) -> str | None:
    """``link`` resolved against the feed's URL (feeds often use relative ones)."""
    if not isinstance(link, str) or not link.strip():
        return None
    try:
        return urljoin(base, link.strip())
    except ValueError:
        return None


def _person_name(detail: Any, raw: Any) -> str | None:
    """A person's name, never their e-mail address: RSS ``<author>`` is an address
    with the name in brackets, if at all, and an address is not for a public wall.
    (feedparser's own split of such strings cuts long top-level domains.)"""
    text = _text(raw)
    if text is None:
        name = _text(detail.get("name")) if isinstance(detail, Mapping) else None
        return name if name and "@" not in name else None
    if "@" in text:
        text = _EMAIL_RE.sub(" ", text).strip(" ()<>\"'")
    return " ".join(text.split()) or None
