"""Bluesky post records, read: which tags a post carries, and the ``PostIn`` it becomes.

Pure functions over the JSON that Jetstream v1 (and ``app.bsky.feed.searchPosts``)
hand out for an ``app.bsky.feed.post`` record. Nothing here trusts the record's
shape: a field of the wrong type counts as absent, and what ``PostIn`` refuses raises
``pydantic.ValidationError`` for the caller to count.

``TagFilter.matches`` runs for every post on the network, so it is written for speed:
plain ``type() is`` checks, no allocation for posts without tags, and the costly
hashtag extraction from the text only where a wanted tag may be in it.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Any, TypeGuard

from backchannel.people.schemas import AuthorIn
from backchannel.posts.hashtags import _LATIN_FOLDS, extract_hashtags, normalize_tag
from backchannel.posts.models import SourceKind
from backchannel.posts.schemas import MediaIn, PostIn

POST_COLLECTION = "app.bsky.feed.post"
TAG_FEATURE = "app.bsky.richtext.facet#tag"
IMAGES_EMBED = "app.bsky.embed.images"
RECORD_WITH_MEDIA_EMBED = "app.bsky.embed.recordWithMedia"
CDN = "https://cdn.bsky.app/img"
WEB = "https://bsky.app"

# atproto's DID and record-key syntax, with a length a handle column can hold.
_DID_RE = re.compile(r"did:[a-z]+:[a-zA-Z0-9._:%-]{1,250}")
_RKEY_RE = re.compile(r"[A-Za-z0-9._:~-]{1,512}")
_CID_RE = re.compile(r"[A-Za-z0-9]{8,128}")
_LANG_RE = re.compile(r"[a-zA-Z]{2,3}(?:[-_][a-zA-Z0-9]{1,8})?")
#: Self-labels that mean "not for everyone" (Bluesky's adult and graphic labels).
_SENSITIVE_LABELS = frozenset({"porn", "sexual", "nudity", "graphic-media", "gore"})
# A createdAt before Bluesky's network existed is a typo or a test, not a date.
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_MAX_TAG = 300
_MAX_TAGS = 100
_MAX_ALT = 1500
# Letters hashtags fold to ASCII that have no decomposition (ø → o, æ → ae).
_FOLD_TABLE = str.maketrans(_LATIN_FOLDS)
_FOLDABLE_RE = re.compile(f"[{''.join(_LATIN_FOLDS)}]")


def valid_did(value: object) -> TypeGuard[str]:
    return type(value) is str and _DID_RE.fullmatch(value) is not None


def valid_rkey(value: object) -> TypeGuard[str]:
    return type(value) is str and value not in (".", "..") and _RKEY_RE.fullmatch(value) is not None


def at_uri(did: str, rkey: str) -> str:
    return f"at://{did}/{POST_COLLECTION}/{rkey}"


def post_url(did: str, rkey: str) -> str:
    return f"{WEB}/profile/{did}/post/{rkey}"


def _norm(tag: str) -> str | None:
    if tag.isascii() and tag.isalnum():  # the common case, and what normalize_tag does
        return tag.lower()
    return normalize_tag(tag)


def _facet_tags(record: dict[str, Any]) -> list[str]:
    found: list[str] = []
    facets = record.get("facets")
    if type(facets) is not list:
        return found
    for facet in facets:
        features = facet.get("features") if type(facet) is dict else None
        if type(features) is not list:
            continue
        for feature in features:
            if type(feature) is dict and feature.get("$type") == TAG_FEATURE:
                tag = feature.get("tag")
                if type(tag) is str:
                    found.append(tag)
    return found


def stated_tags(record: dict[str, Any]) -> list[str]:
    """The tags a record states outside its text (tag facets, then ``tags``), as
    written, unique, without ``#``."""
    raw = _facet_tags(record)
    extra = record.get("tags")
    if type(extra) is list:
        raw.extend(t for t in extra if type(t) is str)
    seen: set[str] = set()
    tags: list[str] = []
    for tag in raw:
        tag = tag.strip().lstrip("#＃")
        if tag and len(tag) <= _MAX_TAG and tag not in seen:
            seen.add(tag)
            tags.append(tag)
    return tags[:_MAX_TAGS]


class TagFilter:
    """The wanted tags (normalised, without ``#``), ready to test records against."""

    __slots__ = ("_ascii", "tags")

    def __init__(self, tags: frozenset[str]) -> None:
        self.tags = tags
        self._ascii = all(tag.isascii() for tag in tags)

    def matches(self, record: dict[str, Any]) -> bool:
        """Whether the record carries a wanted tag: as a tag facet, in ``tags``, or as
        a hashtag written in its text."""
        wanted = self.tags
        if not wanted:
            return False
        # The walk of ``_facet_tags``, inline: this runs for every record of the
        # firehose, and a generator here cost 5 % of the filter's throughput.
        facets = record.get("facets")
        if type(facets) is list:
            for facet in facets:
                features = facet.get("features") if type(facet) is dict else None
                if type(features) is not list:
                    continue
                for feature in features:
                    if type(feature) is dict and feature.get("$type") == TAG_FEATURE:
                        tag = feature.get("tag")
                        if type(tag) is str and _norm(tag) in wanted:
                            return True
        extra = record.get("tags")
        if type(extra) is list:
            for tag in extra:
                if type(tag) is str and _norm(tag.lstrip("#＃")) in wanted:
                    return True
        text = record.get("text")
        if type(text) is str and ("#" in text or "＃" in text) and self._may_mention(text):
            return any(tag in wanted for tag in extract_hashtags(text))
        return False

    def _may_mention(self, text: str) -> bool:
        """False only if no hashtag in ``text`` can normalise to a wanted tag: a cheap
        test (C-speed string work) before the full extraction (~30 µs a text).

        For ASCII tags: a hashtag normalises to a wanted tag only if the text, folded
        the way hashtags are (NFKC, case folding, Latin letters to ASCII), holds the tag
        as a substring. Other scripts get the full extraction every time."""
        if not self._ascii:
            return True
        if text.isascii():
            folded = text.lower()
        else:
            decomposed = unicodedata.normalize(
                "NFKD", unicodedata.normalize("NFKC", text).casefold()
            )
            if _FOLDABLE_RE.search(decomposed) is not None:  # translate is slow: rarely
                decomposed = decomposed.translate(_FOLD_TABLE)
            folded = decomposed.encode("ascii", "ignore").decode("ascii")
        return any(tag in folded for tag in self.tags)


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time as Bluesky writes it (``…Z``), or None."""
    if type(value) is not str or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def created_at(record: dict[str, Any], seen_at: datetime) -> datetime:
    """The record's ``createdAt``, but never after the network saw it (a clock in the
    future would put it on top of every wall; Bluesky sorts by the earlier of the two
    as well) and never before 2000."""
    stated = parse_time(record.get("createdAt"))
    if stated is None or stated < _EARLIEST:
        return seen_at
    return min(stated, seen_at)


def _blob_cid(blob: object) -> str | None:
    if type(blob) is not dict:
        return None
    ref = blob.get("ref")
    cid = ref.get("$link") if type(ref) is dict else blob.get("cid")  # current, legacy
    return cid if type(cid) is str and _CID_RE.fullmatch(cid) else None


def media(did: str, record: dict[str, Any]) -> list[MediaIn]:
    """Images (also those of a quote with media), as Bluesky's CDN serves them."""
    embed = record.get("embed")
    if type(embed) is dict and embed.get("$type") == RECORD_WITH_MEDIA_EMBED:
        embed = embed.get("media")
    if type(embed) is not dict or embed.get("$type") != IMAGES_EMBED:
        return []
    images = embed.get("images")
    found: list[MediaIn] = []
    for image in images if type(images) is list else []:
        cid = _blob_cid(image.get("image")) if type(image) is dict else None
        if cid is None:
            continue
        alt = image.get("alt")
        found.append(
            MediaIn(
                url=f"{CDN}/feed_fullsize/plain/{did}/{cid}@jpeg",
                preview_url=f"{CDN}/feed_thumbnail/plain/{did}/{cid}@jpeg",
                description=alt[:_MAX_ALT] if type(alt) is str else "",
                type="image",
            )
        )
    return found[:20]


def _language(record: dict[str, Any]) -> str | None:
    langs = record.get("langs")
    if type(langs) is list and langs and type(langs[0]) is str and _LANG_RE.fullmatch(langs[0]):
        lang: str = langs[0]
        return lang
    return None


def _sensitive(record: dict[str, Any]) -> bool:
    labels = record.get("labels")
    values = labels.get("values") if type(labels) is dict else None
    if type(values) is not list:
        return False
    return any(type(v) is dict and v.get("val") in _SENSITIVE_LABELS for v in values)


def _reply_to(record: dict[str, Any]) -> str | None:
    reply = record.get("reply")
    parent = reply.get("parent") if type(reply) is dict else None
    uri = parent.get("uri") if type(parent) is dict else None
    return uri if type(uri) is str and uri.startswith("at://") and len(uri) <= 2048 else None


def post_in(
    did: str,
    rkey: str,
    record: dict[str, Any],
    *,
    seen_at: datetime,
    edited: bool = False,
    author: AuthorIn | None = None,
) -> PostIn:
    """The ``PostIn`` for a post record (``did`` and ``rkey`` already checked).

    Raises ``pydantic.ValidationError`` for a record ``PostIn`` refuses (a text over
    its limit, say).
    """
    text = record.get("text")
    return PostIn(
        source=SourceKind.BLUESKY,
        source_uri=at_uri(did, rkey),
        url=post_url(did, rkey),
        author=author,
        text=text if type(text) is str else "",
        language=_language(record),
        created_at=created_at(record, seen_at),
        edited_at=seen_at if edited else None,
        sensitive=_sensitive(record),
        in_reply_to_uri=_reply_to(record),
        media=media(did, record),
        tags=stated_tags(record),
    )
