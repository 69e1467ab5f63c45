"""Every query on posts, their tags and tombstones."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from backchannel.db.bulk import insert_many
from backchannel.kit.clock import utcnow
from backchannel.kit.pages import Page, apply_page
from backchannel.moderation.models import EventPost, PostState
from backchannel.people.models import Account
from backchannel.posts.models import Post, PostTag, Tombstone, Visibility

LISTED = (Visibility.PUBLIC.value, Visibility.UNLISTED.value)


#: Ids are signed 64-bit; a larger number names no post (and the database refuses it).
MAX_ID = (1 << 63) - 1


async def get(session: AsyncSession, post_id: int) -> Post | None:
    if not 0 < post_id <= MAX_ID:
        return None
    return await session.get(Post, post_id)


async def get_by_source_uri(session: AsyncSession, source_uri: str) -> Post | None:
    return await session.scalar(select(Post).where(Post.source_uri == source_uri))


def add_tags(session: AsyncSession, post_id: int, tags: Collection[str]) -> None:
    # Added to the session: the group's one flush inserts them after their post.
    session.add_all([PostTag(tag=t, post_id=post_id) for t in tags])


# Built once: ingest asks this for every post, and a statement built per call costs
# more to construct and to key for the compiled cache than it takes to run.
_LOOKUP_SOURCE_URI = select(
    select(Post.id).where(Post.source_uri == bindparam("uri")).scalar_subquery(),
    select(Tombstone.source_uri).where(Tombstone.source_uri == bindparam("uri")).exists(),
)


async def lookup_source_uri(session: AsyncSession, source_uri: str) -> tuple[int | None, bool]:
    """The post id stored under ``source_uri`` and whether it was deleted: one round trip."""
    # On the connection (Core): the session's ORM execution costs about as much again.
    connection = await session.connection()
    row = (await connection.execute(_LOOKUP_SOURCE_URI, {"uri": source_uri})).one()
    return row[0], bool(row[1])


class NewPosts:
    """Posts, their tags and tombstones that the writes of one group add, inserted with
    one statement per table when the writer writes the group's deferred rows
    (``UnitOfWork.deferred``), instead of an ORM flush of each."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.tags: list[dict[str, Any]] = []
        self.tombstones: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any], author: Account) -> Post:
        """Hold a new post's row (every column); returns it as a ``Post`` to read.

        The session does not track that object (the insert writes the row, not a
        flush), and it is made without the ORM's per-attribute bookkeeping: ingest
        makes one for every post, and it is only ever read.
        """
        self.posts.append(row)
        post: Post = _new_post()
        post.__dict__.update(row, author=author)
        return post

    def add_tags(self, post_id: int, tags: Collection[str]) -> None:
        self.tags.extend({"tag": tag, "post_id": post_id} for tag in tags)

    def add_tombstone(self, source_uri: str) -> None:
        self.tombstones.append({"source_uri": source_uri, "deleted_at": utcnow()})

    def write(self, session: Session) -> None:
        connection = session.connection()
        insert_many(connection, Post, self.posts)  # first: tags refer to posts
        insert_many(connection, PostTag, self.tags)
        insert_many(connection, Tombstone, self.tombstones)
        self.posts, self.tags, self.tombstones = [], [], []


_new_post = Post.__mapper__.class_manager.new_instance


async def remove_tags(session: AsyncSession, post_id: int, tags: Collection[str]) -> None:
    if tags:
        await session.execute(
            delete(PostTag).where(PostTag.post_id == post_id, PostTag.tag.in_(list(tags)))
        )


async def delete_post(session: AsyncSession, post: Post, *, tombstone: bool) -> None:
    """Deletes a post and everything hanging off it; ``tombstone``: and leaves one for
    its URI (the caller knows there is none yet)."""
    await session.execute(delete(PostTag).where(PostTag.post_id == post.id))
    await session.execute(delete(EventPost).where(EventPost.post_id == post.id))
    await session.execute(delete(Post).where(Post.id == post.id))
    session.expunge(post)
    if tombstone:
        add_tombstone(session, post.source_uri)


def _finish(rows: Sequence[Post], oldest_first: bool) -> list[Post]:
    posts = list(rows)
    if oldest_first:
        posts.reverse()
    return posts


async def tag_timeline(
    session: AsyncSession, tags: Collection[str], page: Page, *, source: str | None = None
) -> list[Post]:
    ids = select(PostTag.post_id).where(PostTag.tag.in_(list(tags))).distinct()
    stmt = select(Post).where(Post.id.in_(ids), Post.visibility == Visibility.PUBLIC.value)
    if source:
        stmt = stmt.where(Post.source == source)
    stmt, oldest_first = apply_page(stmt, Post.id, page)
    return _finish((await session.scalars(stmt)).all(), oldest_first)


async def account_timeline(
    session: AsyncSession, account_id: int, page: Page, *, source: str | None = None
) -> list[Post]:
    stmt = select(Post).where(Post.author_id == account_id, Post.visibility.in_(LISTED))
    if source:
        stmt = stmt.where(Post.source == source)
    stmt, oldest_first = apply_page(stmt, Post.id, page)
    return _finish((await session.scalars(stmt)).all(), oldest_first)


async def event_timeline(
    session: AsyncSession,
    event_id: int,
    page: Page,
    *,
    states: Collection[PostState] = (PostState.APPROVED,),
    source: str | None = None,
    on_wall_only: bool = False,
    needs_review: bool | None = None,
) -> list[tuple[Post, EventPost]]:
    stmt = (
        select(Post, EventPost)
        .join(EventPost, EventPost.post_id == Post.id)
        .where(EventPost.event_id == event_id, EventPost.state.in_([s.value for s in states]))
    )
    if on_wall_only:
        stmt = stmt.where(EventPost.held.is_(False))
    if needs_review is not None:
        stmt = stmt.where(EventPost.needs_review.is_(needs_review))
    if source:
        stmt = stmt.where(Post.source == source)
    stmt, oldest_first = apply_page(stmt, EventPost.post_id, page)
    result = (await session.execute(stmt)).all()
    rows: list[tuple[Post, EventPost]] = [(p, e) for p, e in result]
    if oldest_first:
        rows.reverse()
    return rows


async def pinned(session: AsyncSession, event_id: int) -> list[Post]:
    stmt = (
        select(Post)
        .join(EventPost, EventPost.post_id == Post.id)
        .where(
            EventPost.event_id == event_id,
            EventPost.pinned.is_(True),
            EventPost.state == PostState.APPROVED.value,
        )
        .order_by(Post.id.desc())
    )
    return list((await session.scalars(stmt)).all())


def add_tombstone(session: AsyncSession, source_uri: str) -> None:
    session.add(Tombstone(source_uri=source_uri))
