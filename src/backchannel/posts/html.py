"""Post HTML: sanitising remote HTML, turning HTML into text and plain text into HTML."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from html import escape
from html.parser import HTMLParser
from urllib.parse import urlsplit

import nh3

from backchannel.kit.urls import safe_url
from backchannel.posts.hashtags import find_entities

__all__ = ["LINK_REL", "html_to_text", "sanitize_html", "text_to_html"]

LINK_REL = "nofollow noopener noreferrer"

_ALLOWED_TAGS = frozenset(
    {
        "p",
        "br",
        "a",
        "span",
        "strong",
        "b",
        "em",
        "i",
        "u",
        "s",
        "del",
        "ul",
        "ol",
        "li",
        "blockquote",
        "code",
        "pre",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
    }
)
# Removed together with everything inside them (other unknown tags are unwrapped).
_DROPPED_WITH_CONTENT = frozenset(
    {
        "script",
        "style",
        "iframe",
        "frame",
        "frameset",
        "img",
        "svg",
        "math",
        "object",
        "embed",
        "applet",
        "noscript",
        "noembed",
        "noframes",
        "template",
        "textarea",
        "select",
        "title",
        "xmp",
        "audio",
        "video",
        "canvas",
    }
)
# Microformat and display classes Mastodon puts on links and spans.
_ALLOWED_CLASSES = frozenset({"mention", "hashtag", "u-url", "h-card", "invisible", "ellipsis"})


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute != "class":
        return value
    # nh3's allowed_classes would leave an empty class="" behind.
    classes = [c for c in value.split() if c in _ALLOWED_CLASSES]
    return " ".join(dict.fromkeys(classes)) or None


@cache
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(_ALLOWED_TAGS),
        clean_content_tags=set(_DROPPED_WITH_CONTENT),
        # "*": no generic attributes (nh3 would otherwise keep lang and title).
        attributes={"*": set(), "a": {"href", "class"}, "span": {"class"}},
        attribute_filter=_filter_attribute,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        link_rel=LINK_REL,
        url_schemes={"http", "https", "mailto"},
        url_relative="deny",
        strip_comments=True,
    )


def sanitize_html(html: str) -> str:
    """Reduce untrusted HTML to a small safe subset.

    Kept: ``p br a span strong b em i u s del ul ol li blockquote code pre h1-h6``.
    Links keep only an ``http``, ``https`` or ``mailto`` ``href`` (relative ones are
    dropped) and always get ``rel="nofollow noopener noreferrer" target="_blank"``.
    ``class`` survives on ``a`` and ``span`` only, and only with Mastodon's classes
    (``mention hashtag u-url h-card invisible ellipsis``). No other attribute survives.
    Scripts, styles, frames, images, SVG, MathML and the like are removed with their
    content; other tags are removed but their text is kept.
    """
    if not html:
        return ""
    result: str = _cleaner().clean(html)
    return result


# Elements that start a new paragraph / a new line when rendered as text.
_PARAGRAPH_TAGS = frozenset(
    {
        "p",
        "div",
        "blockquote",
        "pre",
        "ul",
        "ol",
        "dl",
        "table",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "aside",
        "header",
        "footer",
        "nav",
        "main",
        "figure",
        "figcaption",
        "address",
        "details",
        "summary",
        "hr",
        "form",
        "fieldset",
    }
)
_LINE_TAGS = frozenset({"br", "li", "tr", "dt", "dd", "caption"})
# Their text is never shown.
_HIDDEN_TAGS = frozenset(
    {"script", "style", "template", "noscript", "iframe", "object", "svg", "math", "title", "head"}
)
_HTML_WHITESPACE_RE = re.compile(r"[ \t\n\r\f]+")
_SPACES_BEFORE_NEWLINE_RE = re.compile(r"[ \t]+\n")
_MANY_NEWLINES_RE = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden: list[str] = []
        self._pre = 0

    def _at_line_start(self) -> bool:
        return not self.parts or self.parts[-1].endswith("\n")

    def _newlines(self, count: int) -> None:
        """End the current line and make sure ``count - 1`` blank lines follow."""
        if not self.parts:
            return
        have = 0
        for part in reversed(self.parts):
            stripped = part.rstrip("\n")
            have += len(part) - len(stripped)
            if stripped or have >= count:
                break
        if have < count:
            self.parts.append("\n" * (count - have))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden.append(tag)
        elif self._hidden:
            return
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _PARAGRAPH_TAGS:
            self._newlines(2)
            if tag == "pre":
                self._pre += 1
        elif tag in _LINE_TAGS:
            self._newlines(1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <hr/>, <p/>: an element without content.
        if tag in _HIDDEN_TAGS or self._hidden:
            return
        if tag == "br":
            self.parts.append("\n")
        elif tag in _PARAGRAPH_TAGS:
            self._newlines(2)
        elif tag in _LINE_TAGS:
            self._newlines(1)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            if tag in self._hidden:
                while self._hidden.pop() != tag:
                    pass
        elif self._hidden:
            return
        elif tag in _PARAGRAPH_TAGS:
            self._newlines(2)
            if tag == "pre" and self._pre:
                self._pre -= 1
        elif tag in _LINE_TAGS and tag != "br":
            self._newlines(1)

    def handle_data(self, data: str) -> None:
        if self._hidden or not data:
            return
        if not self._pre:
            data = _HTML_WHITESPACE_RE.sub(" ", data)
            if self._at_line_start():
                data = data.lstrip(" ")
            if not data:
                return
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Plain text of (possibly malformed) HTML.

    Paragraph-like elements become blank lines, ``<br>`` and list items line breaks,
    entities are unescaped, scripts and styles are skipped, whitespace outside
    ``<pre>`` is collapsed, runs of blank lines are limited to one and the result is
    stripped.
    """
    if "<" not in html and "&" not in html:
        text = html
    else:
        parser = _TextExtractor()
        parser.feed(html)
        parser.close()
        text = "".join(parser.parts)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _SPACES_BEFORE_NEWLINE_RE.sub("\n", text)
    text = _MANY_NEWLINES_RE.sub("\n\n", text)
    return text.strip()


_CONTROL_CHARS_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PARAGRAPH_BREAK_RE = re.compile(r"\n(?:[ \t]*\n)+")
_LINK_ATTRS = f'rel="{LINK_REL}" target="_blank"'


def _checked_tag_url(url: str) -> str:
    """Accept a local path or an http(s) URL (tag names may hold ZWNJ, so no safe_url)."""
    if url.startswith("/") and not url.startswith(("//", "/\\")):
        return url
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc and url == url.strip():
        return url
    raise ValueError(f"tag_url returned an unsafe URL: {url!r}")


def _linkify(
    line: str,
    tag_url: Callable[[str], str],
    mention_url: Callable[[str], str | None] | None,
) -> str:
    out: list[str] = []
    pos = 0
    for entity in find_entities(line):
        original = line[entity.start : entity.end]
        if entity.kind == "url":
            href = escape(entity.value)
            html = f'<a href="{href}" {_LINK_ATTRS}>{href}</a>'
        elif entity.kind == "hashtag":
            href = escape(_checked_tag_url(tag_url(entity.value)))
            body = escape(original[1:])
            html = f'<a href="{href}" class="mention hashtag" rel="tag">#<span>{body}</span></a>'
        else:
            target = safe_url(mention_url(entity.value)) if mention_url is not None else None
            if target is None:
                continue
            username = escape(original[1:].split("@", 1)[0])
            html = (
                f'<span class="h-card"><a href="{escape(target)}" class="u-url mention" '
                f"{_LINK_ATTRS}>@<span>{username}</span></a></span>"
            )
        out.append(escape(line[pos : entity.start]))
        out.append(html)
        pos = entity.end
    out.append(escape(line[pos:]))
    return "".join(out)


def text_to_html(
    text: str,
    *,
    tag_url: Callable[[str], str],
    mention_url: Callable[[str], str | None] | None = None,
) -> str:
    """HTML for a post written as plain text.

    Everything is escaped; blank lines separate ``<p>`` paragraphs and single line
    breaks become ``<br>``. http(s) links, hashtags (recognised exactly as by
    :func:`~backchannel.posts.hashtags.extract_hashtags`) and mentions are linked:

    * link: ``<a href="URL" rel="nofollow noopener noreferrer" target="_blank">URL</a>``
      (trailing sentence punctuation and unbalanced ``)`` stay outside),
    * hashtag: ``<a href="{tag_url(name)}" class="mention hashtag" rel="tag">#<span>
      {as typed}</span></a>``; ``tag_url`` gets the normalised name and must return a
      local path or an http(s) URL (anything else raises ``ValueError``),
    * mention: linked Mastodon-style (``h-card``/``u-url mention``) if ``mention_url``
      returns a safe http(s) URL for the ``user`` or ``user@domain`` account, else
      left as text.

    C0 control characters other than tab and newline become spaces (which changes
    neither which hashtags, mentions and links are found nor where they end).
    """
    text = _CONTROL_CHARS_RE.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    paragraphs: list[str] = []
    for paragraph in _PARAGRAPH_BREAK_RE.split(text.strip("\n")):
        if not paragraph.strip():
            continue
        lines = [_linkify(line, tag_url, mention_url) for line in paragraph.split("\n")]
        paragraphs.append("<p>" + "<br>".join(lines) + "</p>")
    return "".join(paragraphs)
