"""A Mastodon server's own status ids, kept with the posts they brought.

A hashtag stream's ``delete`` carries the server's id of the status, never its uri.
The runtime remembers recent ones in memory; this is what it falls back on after a
restart, or when another process stored the post.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.connectors.base import AfterIngest
from backchannel.connectors.models import RemoteStatusId
from backchannel.db.writer import UnitOfWork
from backchannel.posts.models import Post
from backchannel.posts.service import IngestResult

#: Longer ids are no server's ids; they are neither kept nor looked up.
MAX_ID_LENGTH = 64


def remember(server: str, status_id: str) -> AfterIngest:
    """A write to run with the post's ingest: the id names the stored post."""

    async def keep(uow: UnitOfWork, result: IngestResult) -> None:
        if result.post is None or len(status_id) > MAX_ID_LENGTH:
            return
        await uow.session.merge(
            RemoteStatusId(server=server, status_id=status_id, post_id=result.post.id)
        )

    return keep


async def uri_of(
    sessionmaker: async_sessionmaker[AsyncSession], server: str, status_id: str
) -> str | None:
    """The uri of the post this server's ``status_id`` brought, if one is stored."""
    if len(status_id) > MAX_ID_LENGTH:
        return None
    async with sessionmaker() as session:
        found: str | None = await session.scalar(
            select(Post.source_uri)
            .join(RemoteStatusId, RemoteStatusId.post_id == Post.id)
            .where(RemoteStatusId.server == server, RemoteStatusId.status_id == status_id)
        )
        return found
