"""Hashtags, mentions and links in plain text, recognised the way Mastodon does.

The rules (see PROTOCOL.md, "Hashtags"):

* A hashtag starts with ``#`` or ``＃`` anywhere except right after a letter, a digit,
  a combining mark, ``/``, ``)`` or ``=`` -- so ``(#dk2018)`` and ``„#dk2018“`` are
  tags while ``a#b`` and ``https://x.org/page#section`` are not. A ``#`` inside a
  recognised link or mention never starts a tag.
* Its body is letters, combining marks, digits and ``_``, with ``·``, ``・`` and ZWNJ
  allowed between them (not first, and trailing ones are not part of the tag).
* Names are normalised: NFKC, case-folded, Latin letters folded to ASCII
  (``Überwachung`` → ``uberwachung``, ``Straße`` → ``strasse``) while other scripts
  (``東京``, ``москва``) stay as they are. A name needs at least one letter
  (``#2018`` is no tag) and at most 255 characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from backchannel.kit.urls import safe_url

__all__ = [
    "MAX_TAG_LENGTH",
    "Entity",
    "extract_hashtags",
    "extract_mentions",
    "find_entities",
    "normalize_tag",
]

MAX_TAG_LENGTH = 255

_HASH_CHARS = "#＃"
# Allowed between the word characters of a tag. U+FF65 (halfwidth katakana middle dot)
# becomes U+30FB under NFKC.
_SEPARATORS = frozenset("\u00b7\u30fb\uff65\u200c")
_NORMALIZED_SEPARATORS = frozenset("\u00b7\u30fb\u200c")
# U+FF3F (fullwidth low line) becomes "_" under NFKC.
_UNDERSCORES = frozenset("_\uff3f")
_NO_TAG_AFTER = frozenset("/)=")
# Guard before NFKC: composing sequences can shrink a name at most ~3x.
_MAX_RAW_LENGTH = 4 * MAX_TAG_LENGTH

# Letters that have no decomposition but an obvious ASCII spelling (after case folding).
_LATIN_FOLDS = {
    "æ": "ae",
    "œ": "oe",
    "ø": "o",
    "đ": "d",
    "ð": "d",
    "ł": "l",
    "þ": "th",
    "ı": "i",
    "ħ": "h",
    "ŧ": "t",
    "ƒ": "f",
}

# http(s) links. The scheme must not be glued to a word ("xhttp://") or a path; that is
# checked by hand, as a leading look-behind makes the regex twice as slow.
_URL_RE = re.compile(r"https?://[^\s<>\"\\`\x00-\x1f\x7f]+", re.IGNORECASE)
_URL_TRAILING = frozenset(".,:;!?'\"*…»«”“’‘。、，！？」』")
_URL_CLOSERS = {")": "(", "]": "[", "}": "{", "）": "（"}

# @user or @user@domain; not after a word character (e-mail addresses), "/", "=" or "@".
_MENTION_RE = re.compile(
    r"@([a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?)(?:@(\w(?:[\w.-]*\w)?))?", re.IGNORECASE
)
_NO_MENTION_AFTER = frozenset("/=@")
_NO_URL_AFTER = frozenset("@/.")
_HASH_RE = re.compile("[#＃]")
_ASCII_TAG_RE = re.compile(r"[a-z0-9_]*[a-z][a-z0-9_]*")
_ASCII_WORD_RE = re.compile(r"[A-Za-z0-9_]+")

EntityKind = Literal["url", "mention", "hashtag"]


@dataclass(frozen=True, slots=True)
class Entity:
    """A link, mention or hashtag found in plain text.

    ``text[start:end]`` is the original text. ``value`` is the link, the account
    (``user`` or ``user@domain`` with the domain lower-cased) or the normalised tag.
    """

    kind: EntityKind
    start: int
    end: int
    value: str


def _is_word_char(c: str) -> bool:
    """Letters, combining marks, decimal digits and underscores."""
    if c.isascii():
        return c.isalnum() or c == "_"
    if c in _UNDERSCORES:
        return True
    category = unicodedata.category(c)
    return category[0] in "LM" or category == "Nd"


def _blocks_hashtag(c: str) -> bool:
    """True if a ``#`` right after ``c`` does not start a hashtag."""
    if c in _NO_TAG_AFTER or c.isalnum():
        return True
    return not c.isascii() and unicodedata.category(c)[0] == "M"


def _is_allowed_tag_char(c: str) -> bool:
    """Characters a normalised tag may consist of."""
    if c.isascii():
        return c.isalnum() or c == "_"
    if c in _NORMALIZED_SEPARATORS:
        return True
    category = unicodedata.category(c)
    return category[0] in "LM" or category == "Nd"


def _is_letter(c: str) -> bool:
    if c.isascii():
        return c.isalpha()
    return unicodedata.category(c)[0] == "L"


def _fold_to_ascii(s: str) -> str:
    """Drop diacritics from Latin letters; leave every other script alone."""
    if s.isascii():
        return s
    out: list[str] = []
    after_ascii = False
    for c in unicodedata.normalize("NFKD", s):
        if c.isascii():
            out.append(c)
            after_ascii = True
        elif unicodedata.category(c)[0] == "M":
            if not after_ascii:
                out.append(c)
        elif c in _LATIN_FOLDS:
            out.append(_LATIN_FOLDS[c])
            after_ascii = True
        else:
            out.append(c)
            after_ascii = False
    return unicodedata.normalize("NFKC", "".join(out))


def _normalize_once(name: str) -> str:
    return _fold_to_ascii(unicodedata.normalize("NFKC", name).casefold())


def _normalize_name(name: str) -> str | None:
    if name.isascii():  # fast path; NFKC and folding change nothing here
        lowered = name.lower()
        if len(lowered) <= MAX_TAG_LENGTH and _ASCII_TAG_RE.fullmatch(lowered):
            return lowered
        return None
    if len(name) > _MAX_RAW_LENGTH:
        return None
    normalized = _normalize_once(name)
    # NFKC, case folding and folding each preserve the others' results for all text
    # seen in practice; make sure the result is a fixed point anyway.
    again = _normalize_once(normalized)
    if again != normalized:
        normalized = _normalize_once(again)
        if normalized != again:
            return None
    if not normalized or len(normalized) > MAX_TAG_LENGTH:
        return None
    if normalized[0] in _NORMALIZED_SEPARATORS or normalized[-1] in _NORMALIZED_SEPARATORS:
        return None
    if not all(_is_allowed_tag_char(c) for c in normalized):
        return None
    if not any(_is_letter(c) for c in normalized):
        return None
    return normalized


def normalize_tag(raw: str) -> str | None:
    """Normalise and validate a tag name such as ``"#Überwachung"`` or ``"東京"``.

    Surrounding whitespace and one leading ``#``/``＃`` are removed. Returns ``None``
    if what is left is not a valid tag as a whole: it contains a character that is
    not allowed (``"foo-bar"``), starts or ends with ``·``/``・``/ZWNJ, has no letter
    (``"2018"``), or is empty or longer than 255 characters after normalisation.
    """
    name = raw.strip()
    if name and name[0] in _HASH_CHARS:
        name = name[1:]
    return _normalize_name(name)


def _url_end(text: str, start: int, end: int) -> int:
    """Move ``end`` back past trailing punctuation that belongs to the sentence."""
    while end > start:
        last = text[end - 1]
        if last in _URL_TRAILING:
            end -= 1
        elif last in _URL_CLOSERS:
            segment = text[start:end]
            if segment.count(_URL_CLOSERS[last]) < segment.count(last):
                end -= 1
            else:
                break
        else:
            break
    return end


def _glued(text: str, pos: int, forbidden: frozenset[str]) -> bool:
    """True if the character before ``pos`` is a word character or in ``forbidden``."""
    if pos == 0:
        return False
    before = text[pos - 1]
    return before in forbidden or before.isalnum() or before == "_"


def _find_urls(text: str) -> list[Entity]:
    urls: list[Entity] = []
    if "://" not in text:
        return urls
    pos = 0
    while (match := _URL_RE.search(text, pos)) is not None:
        start = match.start()
        pos = start + 1  # "xhttps://a,https://b": the second link still counts
        if _glued(text, start, _NO_URL_AFTER):
            continue
        end = _url_end(text, start, match.end())
        url = safe_url(text[start:end])
        if url is not None:
            urls.append(Entity("url", start, end, url))
            pos = end
    return urls


def _find_mentions(text: str, taken: list[Entity]) -> list[Entity]:
    mentions: list[Entity] = []
    for match in _MENTION_RE.finditer(text):
        start, end = match.span()
        if _glued(text, start, _NO_MENTION_AFTER) or _overlaps(start, end, taken):
            continue
        user, domain = match.group(1), match.group(2)
        acct = f"{user}@{domain.lower()}" if domain else user
        mentions.append(Entity("mention", start, end, acct))
    return mentions


def _overlaps(start: int, end: int, entities: list[Entity]) -> bool:
    return any(e.start < end and start < e.end for e in entities)


def _find_hashtags(text: str, taken: list[Entity]) -> Iterator[Entity]:
    length = len(text)
    for match in _HASH_RE.finditer(text):
        hash_pos = match.start()
        start = hash_pos + 1
        if hash_pos > 0 and _blocks_hashtag(text[hash_pos - 1]):
            continue
        if start >= length or not _is_word_char(text[start]):
            continue
        # Most tags are ASCII words: the regex finds their end at C speed, and the
        # loop below only goes on where a non-ASCII letter or a separator follows.
        ascii_run = _ASCII_WORD_RE.match(text, start)
        end = ascii_run.end() if ascii_run is not None else start + 1
        while end < length and (_is_word_char(text[end]) or text[end] in _SEPARATORS):
            end += 1
        while text[end - 1] in _SEPARATORS:
            end -= 1
        if _overlaps(hash_pos, end, taken):
            continue
        name = _normalize_name(text[start:end])
        if name is not None:
            yield Entity("hashtag", hash_pos, end, name)


#: The last text scanned and what was found: ingest asks for the same text three
#: times in a row (its HTML, its hashtags, the prose for language detection).
_last: tuple[str, tuple[Entity, ...]] = ("", ())


def find_entities(text: str) -> list[Entity]:
    """All links, mentions and hashtags in ``text``, in order, never overlapping.

    Links win over mentions and hashtags, mentions over hashtags.
    """
    global _last
    last_text, last_found = _last
    if text == last_text:
        return list(last_found)
    entities = _scan(text)
    _last = (text, tuple(entities))
    return entities


def _scan(text: str) -> list[Entity]:
    entities = _find_urls(text)
    if "@" in text:
        entities += _find_mentions(text, entities)
    if "#" in text or "＃" in text:
        entities += _find_hashtags(text, entities)
    entities.sort(key=lambda e: e.start)
    return entities


def _unique(values: Iterator[str], *, key: bool = False) -> list[str]:
    seen: set[str] = set()
    result: list[str] = []
    for value in values:
        k = value.casefold() if key else value
        if k not in seen:
            seen.add(k)
            result.append(value)
    return result


def extract_hashtags(text: str) -> list[str]:
    """Normalised hashtag names in ``text``, unique, in order of first appearance."""
    if "#" not in text and "＃" not in text:
        return []
    return _unique(e.value for e in find_entities(text) if e.kind == "hashtag")


def extract_mentions(text: str) -> list[str]:
    """Mentioned accounts as ``user`` or ``user@domain`` (domain lower-cased).

    Unique (compared case-insensitively, first spelling kept), in order of first
    appearance. ``@`` inside e-mail addresses and links is not a mention.
    """
    if "@" not in text:
        return []
    return _unique((e.value for e in find_entities(text) if e.kind == "mention"), key=True)
