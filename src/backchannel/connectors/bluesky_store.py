"""Which Bluesky posts are stored here, so the connector acts on the deletes and edits
that concern them and on none of the others.

The network deletes and edits thousands of posts a minute; calling ``posts.delete``
for each would write a tombstone for each. The runtime keeps the at-URIs it stored in
memory, seeded at start from the newest Bluesky posts in the database. When the seed
could not hold them all, an event for a post outside it is checked against the
database — but only if its author is one whose posts are stored here.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.people.models import Account
from backchannel.posts import repository as posts_repo
from backchannel.posts.models import Post, SourceKind

#: How many of the newest stored Bluesky posts are kept in memory.
SEED_LIMIT = 100_000


def did_of(at_uri: str) -> str:
    """``did:plc:x`` from ``at://did:plc:x/app.bsky.feed.post/rkey``."""
    return at_uri[5:].split("/", 1)[0]


class StoredPosts:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, limit: int = SEED_LIMIT
    ) -> None:
        self._sessionmaker = sessionmaker
        self._limit = limit
        self._uris: set[str] = set()
        self._dids: set[str] = set()
        #: True when every stored Bluesky post is in memory.
        self._complete = True

    async def load(self) -> None:
        bluesky = SourceKind.BLUESKY.value
        async with self._sessionmaker() as session:
            uris = list(
                await session.scalars(
                    select(Post.source_uri)
                    .where(Post.source == bluesky)
                    .order_by(Post.id.desc())
                    .limit(self._limit + 1)
                )
            )
            dids = await session.scalars(
                select(Account.actor_uri).where(
                    Account.source == bluesky, Account.actor_uri.is_not(None)
                )
            )
            self._dids = {did for did in dids if did is not None}
        self._complete = len(uris) <= self._limit
        self._uris = set(uris[: self._limit])

    def __contains__(self, uri: str) -> bool:
        return uri in self._uris

    def __len__(self) -> int:
        return len(self._uris)

    def may_hold(self, did: str) -> bool:
        """Whether a post of ``did`` outside memory may still be stored (ask ``holds``)."""
        return not self._complete and did in self._dids

    async def holds(self, uri: str) -> bool:
        async with self._sessionmaker() as session:
            post_id, _ = await posts_repo.lookup_source_uri(session, uri)
        found = post_id is not None
        if found:
            self._uris.add(uri)
        return found

    def add(self, uri: str) -> None:
        self._uris.add(uri)
        self._dids.add(did_of(uri))

    def discard(self, uri: str) -> None:
        self._uris.discard(uri)
