"""Reading OPML subscription lists: "import many feeds at once".

Feed readers export the feeds someone follows as OPML: ``<outline>`` elements with
an ``xmlUrl``, nested in folders. ``parse_opml`` finds every one of them, however
deep, and skips outlines that are folders, links or anything else without a feed.

Real files are often not quite XML (a bare ``&`` in a URL is the classic), so when
the XML parser gives up, the outlines are read leniently instead. What is refused,
with an ``OpmlError`` a person can act on: files that are too big or too deep,
lists of absurdly many feeds, and any file that declares XML entities -- OPML has no
use for them, and entities built from entities are how "billion laughs" bombs work.
"""

from __future__ import annotations

import codecs
import re
import xml.parsers.expat
from dataclasses import dataclass
from html.parser import HTMLParser

from backchannel.kit.urls import safe_url

__all__ = ["MAX_OPML_BYTES", "MAX_OPML_FEEDS", "OpmlError", "OpmlFeed", "parse_opml"]

#: The largest OPML file read (a list of thousands of feeds is well under this).
MAX_OPML_BYTES = 5_000_000
#: The most feeds one file may name.
MAX_OPML_FEEDS = 5_000
#: How deep outlines may nest (folders in folders).
MAX_OPML_DEPTH = 50
_MAX_TITLE = 255

_ENCODING_RE = re.compile(rb"""<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


class OpmlError(ValueError):
    """The file cannot be imported; the message says why, for the person uploading it."""


@dataclass(slots=True)
class OpmlFeed:
    #: The feed's address (``xmlUrl``).
    url: str
    #: Its name (``title``, else ``text``); may be empty.
    title: str
    #: The site the feed belongs to (``htmlUrl``), if given and a safe URL.
    html_url: str | None


def parse_opml(data: bytes) -> list[OpmlFeed]:
    """The feeds an OPML file names, in document order, each URL once.

    Outlines without an ``xmlUrl``, or with one that is not an http(s) URL, are
    skipped. Raises ``OpmlError`` for input that is not OPML or is refused.
    """
    if len(data) > MAX_OPML_BYTES:
        raise OpmlError(f"the file is larger than {MAX_OPML_BYTES // 1_000_000} MB")
    if not data.strip():
        raise OpmlError("the file is empty")
    collector = _Collector()
    try:
        _parse_strictly(data, collector)
    except _Refused as exc:
        raise OpmlError(str(exc)) from None
    except xml.parsers.expat.ExpatError:
        collector = _Collector()
        _parse_leniently(data, collector)
    if not collector.saw_opml:
        raise OpmlError("this is not an OPML file (no <opml> or <outline> elements)")
    return collector.feeds


class _Refused(Exception):
    pass


class _Collector:
    """Turns outline attributes into feeds, keeping the limits."""

    def __init__(self) -> None:
        self.feeds: list[OpmlFeed] = []
        self.saw_opml = False
        self.depth = 0
        self._seen: set[str] = set()

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        name = tag.rsplit(":", 1)[-1].lower()
        if name == "opml":
            self.saw_opml = True
        if name != "outline":
            return
        self.saw_opml = True
        self.depth += 1
        if self.depth > MAX_OPML_DEPTH:
            raise _Refused(f"outlines are nested more than {MAX_OPML_DEPTH} deep")
        lowered = {key.lower(): value for key, value in attrs.items()}
        url = _feed_url(lowered.get("xmlurl", ""))
        if url is None or url in self._seen:
            return
        if len(self.feeds) >= MAX_OPML_FEEDS:
            raise _Refused(f"the file names more than {MAX_OPML_FEEDS} feeds")
        self._seen.add(url)
        title = (lowered.get("title") or lowered.get("text") or "").strip()
        self.feeds.append(OpmlFeed(url, " ".join(title.split())[:_MAX_TITLE], _html_url(lowered)))

    def end(self, tag: str) -> None:
        if tag.rsplit(":", 1)[-1].lower() == "outline":
            self.depth -= 1


def _feed_url(value: str) -> str | None:
    value = value.strip()
    # Some readers export feed:// (or feed:https://) addresses.
    if value.lower().startswith("feed:"):
        rest = value[5:]
        value = rest if rest.lower().startswith(("http://", "https://")) else "http:" + rest
    return safe_url(value)


def _html_url(attrs: dict[str, str]) -> str | None:
    return safe_url(attrs.get("htmlurl", "").strip() or None)


def _refuse_entities(*_: object) -> None:
    raise _Refused(
        "the file declares XML entities, which OPML does not need and which are how "
        "entity bombs are made; remove the <!DOCTYPE …> part and try again"
    )


def _parse_strictly(data: bytes, collector: _Collector) -> None:
    parser = xml.parsers.expat.ParserCreate()
    # Refused at the declaration, before anything is expanded.
    parser.EntityDeclHandler = _refuse_entities
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = collector.start
    parser.EndElementHandler = collector.end
    parser.Parse(data, True)


def _parse_leniently(data: bytes, collector: _Collector) -> None:
    text = _decode(data)
    if "<!ENTITY" in text.upper():
        _refuse_entities()
    reader = _LenientReader(collector)
    try:
        reader.feed(text)
        reader.close()
    except _Refused as exc:
        raise OpmlError(str(exc)) from None


def _decode(data: bytes) -> str:
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le")):
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, "replace")
    if data.startswith(codecs.BOM_UTF16_BE):
        return data[2:].decode("utf-16-be", "replace")
    declared = _ENCODING_RE.match(data)
    if declared:
        try:
            return data.decode(declared.group(1).decode("ascii"), "replace")
        except LookupError:
            pass
    return data.decode("utf-8", "replace")


class _LenientReader(HTMLParser):
    """Outlines from markup that is not well-formed XML. The HTML parser keeps going
    past a bare ``&`` or an unquoted attribute, and never expands entities beyond
    HTML's fixed set."""

    def __init__(self, collector: _Collector) -> None:
        super().__init__(convert_charrefs=True)
        self._collector = collector

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._collector.start(tag, {k: v or "" for k, v in attrs})

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        self._collector.end(tag)
