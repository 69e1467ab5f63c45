"""The one door for posts. Every source builds a ``PostIn`` and calls ``ingest``.

Ingest normalises (sanitised HTML, plain text, hashtags, mentions, language),
deduplicates by the source URI (the same post twice is one post; a changed one is an
edit), matches the events whose tags it carries, lets moderation decide where it
lands, and emits it on its streams — all in the writer's transaction, so what is
published is what was committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from backchannel.db.base import loaded_values
from backchannel.db.writer import RetryAlone, UnitOfWork
from backchannel.errors import BadRequest, Forbidden, NotFound
from backchannel.events import repository as events_repo
from backchannel.events.models import Event
from backchannel.kit.clock import utcnow
from backchannel.kit.ids import new_id
from backchannel.moderation import repository as moderation_repo
from backchannel.moderation import service as moderation
from backchannel.moderation.rules import PostFacts
from backchannel.people import repository as people_repo
from backchannel.people import service as people
from backchannel.people.models import Account
from backchannel.posts import repository as repo
from backchannel.posts.hashtags import extract_hashtags, extract_mentions, normalize_tag
from backchannel.posts.html import html_to_text, sanitize_html, text_to_html
from backchannel.posts.language import detect_language
from backchannel.posts.models import Post, SourceKind, Visibility
from backchannel.posts.schemas import PostIn, post_json
from backchannel.streams import channels
from backchannel.streams.frames import encode

#: "refused": the author is suspended, and nothing was stored.
Outcome = Literal["created", "updated", "unchanged", "deleted", "refused"]


@dataclass
class IngestResult:
    post: Post | None
    outcome: Outcome
    #: ``post_json`` of the post as created or updated, encoded (as its frames carry it).
    json: bytes | None = None


@dataclass
class Normalised:
    html: str
    text: str
    tags: list[str]
    mentions: list[dict[str, str | None]]
    language: str | None


def normalise(data: PostIn, base_url: str) -> Normalised:
    if data.text is not None:
        html = text_to_html(data.text, tag_url=lambda t: f"{base_url}/tags/{t}")
        text = data.text.strip()
    else:
        html = sanitize_html(data.content_html or "")
        text = html_to_text(html)
    tags = extract_hashtags(text)
    for raw in data.tags:
        tag = normalize_tag(raw)
        if tag is not None and tag not in tags:
            tags.append(tag)
    mentions: list[dict[str, str | None]] = [
        {"acct": m, "url": None} for m in extract_mentions(text)
    ]
    language = data.language.lower() if data.language else detect_language(text)
    return Normalised(html, text, tags, mentions, language)


_FACT_FIELDS = frozenset(
    "spoiler_text title content_text sensitive in_reply_to_uri reblog_of_uri language".split()
)


def _facts(post: Post, author: Account) -> PostFacts:
    p = loaded_values(post, _FACT_FIELDS)
    spoiler_text: str = p["spoiler_text"]
    return PostFacts(
        author_acct=author.acct,
        author_domain=author.domain,
        text=f"{spoiler_text}\n{p['title'] or ''}\n{p['content_text']}",
        sensitive=p["sensitive"],
        has_content_warning=bool(spoiler_text.strip()),
        is_reply=p["in_reply_to_uri"] is not None,
        is_boost=p["reblog_of_uri"] is not None,
        language=p["language"],
        author_opted_out=author.opted_out,
    )


async def _author(uow: UnitOfWork, data: PostIn) -> Account:
    if data.author_id is not None:
        # Once per group: even from the identity map, session.get costs as much as a
        # third of normalising a post. (The repository's lookup: a suspended author is
        # found, and refused in ingest.)
        by_id = uow.cache("authors_by_id")
        account: Account | None = by_id.get(data.author_id)
        if account is None:
            account = await people_repo.get_by_id(uow.session, data.author_id)
            if account is None:
                raise NotFound(f"no account with id {data.author_id}")
            by_id[data.author_id] = account
        return account
    if data.author is None:
        raise BadRequest("a post needs an author")
    # A group often carries several posts of one author: look them up (and create
    # them) once, since the group flushes only at its end.
    authors = uow.cache("authors")
    key = (data.author.actor_uri, data.author.acct)
    found: Account | None = authors.get(key)
    if found is None:
        found = authors[key] = await people.upsert_remote_author(uow.session, data.author)
        if found.opted_out:
            # Learned now, perhaps after earlier posts were shown: take those down too.
            await moderation.withdraw_opted_out(uow, found)
    return found


def _is_public(post: Post) -> bool:
    return post.visibility == Visibility.PUBLIC.value


def _is_listed(post: Post) -> bool:
    return post.visibility in (Visibility.PUBLIC.value, Visibility.UNLISTED.value)


async def _mastodon_api(
    uow: UnitOfWork,
    change: Literal["created", "edited", "deleted"],
    post: Post,
    base_url: str,
    post_bytes: bytes | None,
) -> None:
    """The Mastodon client API's counters, and the post on its own channels."""
    from backchannel.mastodon_api import publish  # the API builds on posts, not the reverse

    await publish.post_changed(uow, change, post, base_url, post_bytes)


async def ingest(
    uow: UnitOfWork,
    data: PostIn,
    *,
    base_url: str,
    post_id: int | None = None,
    normalised: Normalised | None = None,
) -> IngestResult:
    """Store a post from any source (or apply it as an edit) and put it where it belongs.

    ``post_id``: the id for a new post; for a post written here (``SourceKind.LOCAL``),
    the fresh id its ``source_uri`` was made from.
    ``normalised``: ``normalise(data, base_url)`` when the caller already made it (outside
    the write group, where it does not hold up the group); made here otherwise.
    """
    session = uow.session
    # First, so the group writes posts before the rows that refer to them.
    uow.deferred(_NEW_POSTS, repo.NewPosts)
    created_here: dict[str, Post] = uow.cache("posts_by_uri")
    deleted_here: dict[str, bool] = uow.cache("tombstoned")
    if data.source_uri in deleted_here:
        return IngestResult(None, "deleted")
    if data.source_uri in created_here:
        # An edit of a post this group creates: apply it after that one is written.
        raise RetryAlone("a post edited in the group that creates it")
    # What this group holds back (new posts, tombstones) is in the two caches above,
    # so the lookups need not write it first.
    with uow.holding_deferred():
        if post_id is not None and data.source == SourceKind.LOCAL:
            # Written here just now: its URI names the new id, so nothing is stored or
            # deleted under it yet (and the unique URI would refuse a clash).
            found_id, tombstoned = None, False
        else:
            found_id, tombstoned = await repo.lookup_source_uri(session, data.source_uri)
        if tombstoned:
            return IngestResult(None, "deleted")
        existing = await repo.get(session, found_id) if found_id is not None else None
        author = await _author(uow, data)
        if author.is_suspended:
            if author.is_local:
                raise Forbidden("this account is suspended")
            # Not an error for a connector to retry or give up on: the post is just not
            # taken.
            return IngestResult(None, "refused")
        norm = normalised if normalised is not None else normalise(data, base_url)
        if existing is None:
            return await _create(uow, data, norm, author, base_url, post_id)
    if existing.author_id != author.id:
        raise Forbidden("a post cannot change its author")
    return await _apply_edit(uow, existing, data, norm, base_url)


#: The group's buffer of new posts, tags and tombstones (``UnitOfWork.deferred``).
_NEW_POSTS = "posts"


async def _create(
    uow: UnitOfWork,
    data: PostIn,
    norm: Normalised,
    author: Account,
    base_url: str,
    post_id: int | None,
) -> IngestResult:
    now = utcnow()
    new_posts = uow.deferred(_NEW_POSTS, repo.NewPosts)
    post = new_posts.add(
        {
            "id": post_id if post_id is not None else new_id(data.created_at),
            "source": data.source.value,
            "source_uri": data.source_uri,
            "url": data.url,
            "author_id": author.id,
            "content_html": norm.html,
            "content_text": norm.text,
            "title": data.title,
            "language": norm.language,
            "visibility": data.visibility.value,
            "sensitive": data.sensitive or bool(data.spoiler_text.strip()),
            "spoiler_text": data.spoiler_text,
            "in_reply_to_uri": data.in_reply_to_uri,
            "reblog_of_uri": data.reblog_of_uri,
            "media": [m.model_dump() for m in data.media],
            "mentions": norm.mentions,
            "tags": norm.tags,
            "created_at": data.created_at or now,
            "edited_at": data.edited_at,
            "received_at": now,
        },
        author,
    )
    created_here: dict[str, Post] = uow.cache("posts_by_uri")
    created_here[post.source_uri] = post
    post_bytes = encode(post_json(post, base_url))
    if _is_public(post):
        new_posts.add_tags(post.id, norm.tags)
        for tag in norm.tags:
            uow.emit(channels.tag(tag), "post", post_bytes)
    if _is_listed(post):
        uow.emit(channels.account(author.id), "post", post_bytes)
        await _admit_to_events(uow, post, author, post_bytes, norm.tags, data.event_ids)
    related = (post.in_reply_to_uri, post.reblog_of_uri)
    if any(uri in created_here for uri in related if uri is not None):
        # The Mastodon API looks the post this one answers (or boosts) up in the
        # database: it must be written before.
        await uow.write_deferred()
    await _mastodon_api(uow, "created", post, base_url, post_bytes)
    return IngestResult(post, "created", post_bytes)


async def _admit_to_events(
    uow: UnitOfWork,
    post: Post,
    author: Account,
    post_bytes: bytes,
    tags: list[str],
    event_ids: list[int],
    *,
    skip: set[int] | None = None,
) -> None:
    # Only public posts count for events: an unlisted post asked not to be in tag feeds.
    if not _is_public(post):
        return
    matched = dict(await _events_for_tags(uow, tags))
    for eid in event_ids:
        if eid not in matched:
            event = await events_repo.get_by_id(uow.session, eid, with_children=False)
            if event is not None:
                matched[eid] = event
    facts = _facts(post, author)
    for eid in sorted(matched):
        if skip and eid in skip:
            continue
        await moderation.admit(uow, matched[eid], post, post_bytes, facts)


async def _events_for_tags(uow: UnitOfWork, tags: list[str]) -> dict[int, Event]:
    """The events these tags count for, looked up once per tag set in a group."""
    cache: dict[tuple[str, ...], dict[int, Event]] = uow.cache("events_for_tags")
    key = tuple(sorted(tags))
    if key not in cache:
        found = await events_repo.events_for_tags(uow.session, tags)
        cache[key] = {eid: event for eid, (event, _) in found.items()}
    return cache[key]


async def _apply_edit(
    uow: UnitOfWork, post: Post, data: PostIn, norm: Normalised, base_url: str
) -> IngestResult:
    session = uow.session
    unchanged = (
        post.content_html == norm.html
        and post.spoiler_text == data.spoiler_text
        and post.title == data.title
        and post.media == [m.model_dump() for m in data.media]
        and post.tags == norm.tags
        and post.visibility == data.visibility.value
    )
    if unchanged:
        return IngestResult(post, "unchanged")
    old_tags = set(post.tags) if _is_public(post) else set()
    post.content_html = norm.html
    post.content_text = norm.text
    post.title = data.title
    post.spoiler_text = data.spoiler_text
    post.sensitive = data.sensitive or bool(data.spoiler_text.strip())
    post.media = [m.model_dump() for m in data.media]
    post.mentions = norm.mentions
    post.tags = norm.tags
    post.language = norm.language
    post.visibility = data.visibility.value
    post.edited_at = data.edited_at or utcnow()
    post_bytes = encode(post_json(post, base_url))
    new_tags = set(norm.tags) if _is_public(post) else set()
    await repo.remove_tags(session, post.id, old_tags - new_tags)
    repo.add_tags(session, post.id, new_tags - old_tags)
    for tag in old_tags - new_tags:
        uow.emit(channels.tag(tag), "delete", encode({"id": str(post.id)}))
    for tag in norm.tags:
        if tag in new_tags:
            uow.emit(channels.tag(tag), "update" if tag in old_tags else "post", post_bytes)
    uow.emit(channels.account(post.author_id), "update", post_bytes)
    # The Mastodon hashtag streams are views of the tag channels above.
    await _mastodon_api(uow, "edited", post, base_url, post_bytes)

    # Events: keep the decisions where the post still counts, admit it where it newly
    # does, and take it out where it no longer does.
    still = set((await _events_for_tags(uow, norm.tags)).keys()) if _is_public(post) else set()
    current = await moderation_repo.for_post(session, post.id)
    kept: set[int] = set()
    for ep in current:
        if ep.event_id in still or ep.event_id in data.event_ids:
            moderation.post_updated(uow, ep, post_bytes)
            kept.add(ep.event_id)
        else:
            moderation.post_removed(uow, ep, deleted=False)
            await session.delete(ep)
    await _admit_to_events(uow, post, post.author, post_bytes, norm.tags, data.event_ids, skip=kept)
    return IngestResult(post, "updated", post_bytes)


async def delete(uow: UnitOfWork, source_uri: str, *, actor: Account | None = None) -> bool:
    """Delete a post everywhere (its source said so, or its local author did)."""
    session = uow.session
    new_posts = uow.deferred(_NEW_POSTS, repo.NewPosts)
    if source_uri in uow.cache("posts_by_uri"):
        # Created earlier in this very group and not written yet: let the writer run
        # this write on its own, after that one.
        raise RetryAlone("a post deleted in the group that creates it")
    deleted_here: dict[str, bool] = uow.cache("tombstoned")
    if source_uri in deleted_here:
        return False
    deleted_here[source_uri] = True
    with uow.holding_deferred():
        found_id, tombstoned = await repo.lookup_source_uri(session, source_uri)
        if found_id is None:
            # Remember it anyway: the create may still arrive (out-of-order sources).
            if not tombstoned:
                new_posts.add_tombstone(source_uri)
            return False
    post = await repo.get(session, found_id)
    if post is None:  # an id beyond the range of ids (a corrupt row)
        if not tombstoned:
            new_posts.add_tombstone(source_uri)
        return False
    if actor is not None and actor.id != post.author_id:
        raise Forbidden("only its author can delete a post")
    gone = encode({"id": str(post.id)})
    if _is_public(post):
        for tag in post.tags:
            uow.emit(channels.tag(tag), "delete", gone)
    if _is_listed(post):
        uow.emit(channels.account(post.author_id), "delete", gone)
    for ep in await moderation_repo.for_post(session, post.id):
        moderation.post_removed(uow, ep, deleted=True)
    await _mastodon_api(uow, "deleted", post, "", None)
    await repo.delete_post(session, post, tombstone=not tombstoned)
    return True
