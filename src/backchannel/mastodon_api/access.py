"""Who may see a post: public and unlisted to all, private to followers, direct to
those it mentions — and every post to its author."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.errors import NotFound
from backchannel.mastodon_api import repository as repo
from backchannel.people.models import Account
from backchannel.posts import repository as posts_repo
from backchannel.posts.models import Post, Visibility

LISTED = (Visibility.PUBLIC.value, Visibility.UNLISTED.value)
NOT_FOUND = "Record not found"


async def can_see(session: AsyncSession, viewer: Account | None, post: Post) -> bool:
    if post.visibility in LISTED:
        return True
    if viewer is None:
        return False
    if viewer.id == post.author_id:
        return True
    if post.visibility == Visibility.PRIVATE.value:
        return bool(await repo.following_ids(session, viewer.id, [post.author_id]))
    return any(str(m.get("acct")) == viewer.acct for m in post.mentions)


async def visible_post(session: AsyncSession, viewer: Account | None, post_id: int) -> Post:
    """The post, if the viewer may see it; NotFound otherwise (as Mastodon: no 403)."""
    post = await posts_repo.get(session, post_id)
    if post is None or not await can_see(session, viewer, post):
        raise NotFound(NOT_FOUND)
    return post


async def visibilities_for(
    session: AsyncSession, viewer: Account | None, author_id: int
) -> tuple[str, ...]:
    """Which of an author's posts a viewer's listing of them shows."""
    if viewer is not None and viewer.id == author_id:
        return (*LISTED, Visibility.PRIVATE.value, Visibility.DIRECT.value)
    if viewer is not None and await repo.following_ids(session, viewer.id, [author_id]):
        return (*LISTED, Visibility.PRIVATE.value)
    return LISTED
