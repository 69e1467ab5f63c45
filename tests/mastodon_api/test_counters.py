"""The counts a Status and an Account carry (favourites, reblogs, replies, followers,
following) are kept by database triggers: they must follow every way a row comes or
goes, including cascades when a post or an account is deleted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.mastodon_api.models import AccountStats, PostStats
from backchannel.people.models import Account
from backchannel.posts.models import Post
from support import LiveServer
from support_mastodon import client, off_loop, user_token


def _on_tag_timeline(statuses: list[Any], status_id: str) -> Any:
    [found] = [s for s in statuses if s.id == status_id]
    return found


async def test_counts_on_the_tag_timeline_follow_each_change(server: LiveServer) -> None:
    alice = client(server, await user_token(server, "alice"))
    bob = client(server, await user_token(server, "bob"))
    carol = client(server, await user_token(server, "carol"))
    root = await off_loop(alice.status_post, "root #count")

    await off_loop(bob.status_favourite, root.id)
    await off_loop(carol.status_favourite, root.id)
    await off_loop(bob.status_reblog, root.id)
    reply = await off_loop(bob.status_post, "reply #count", in_reply_to_id=root.id)
    await off_loop(bob.account_follow, root.account.id)
    await off_loop(carol.account_follow, root.account.id)
    shown = _on_tag_timeline(await off_loop(carol.timeline_hashtag, "count"), root.id)
    assert (shown.favourites_count, shown.reblogs_count, shown.replies_count) == (2, 1, 1)
    assert (shown.account.followers_count, shown.account.following_count) == (2, 0)

    await off_loop(carol.status_unfavourite, root.id)
    await off_loop(bob.status_unreblog, root.id)
    await off_loop(bob.status_delete, reply.id)
    await off_loop(carol.account_unfollow, root.account.id)
    shown = _on_tag_timeline(await off_loop(carol.timeline_hashtag, "count"), root.id)
    assert (shown.favourites_count, shown.reblogs_count, shown.replies_count) == (1, 0, 0)
    assert shown.account.followers_count == 1
    assert (await off_loop(carol.account, (await off_loop(bob.me)).id)).following_count == 1
    # A second favourite by the same account changes nothing.
    await off_loop(bob.status_favourite, root.id)
    assert (await off_loop(carol.status, root.id)).favourites_count == 1


async def _stats(session: AsyncSession, post_id: int, account_id: int) -> tuple[Any, ...]:
    post = await session.get(PostStats, post_id)
    account = await session.get(AccountStats, account_id)
    return (
        post.favourites_count if post else None,
        account.followers_count if account else None,
    )


async def test_cascades_count_down(server: LiveServer, engine: Any) -> None:
    alice = client(server, await user_token(server, "alice"))
    bob = client(server, await user_token(server, "bob"))
    root = await off_loop(alice.status_post, "root #cascade")
    await off_loop(bob.status_favourite, root.id)
    await off_loop(bob.account_follow, root.account.id)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    post_id, alice_id = int(root.id), int(root.account.id)
    async with maker() as session:
        assert await _stats(session, post_id, alice_id) == (1, 1)
    # Bob's account goes (as an admin's deletion would): his favourite and his follow
    # go with it, by cascade, and the counters with them.
    async with maker.begin() as session:
        if engine.dialect.name == "sqlite":
            await session.execute(text("PRAGMA foreign_keys = ON"))
        await session.execute(delete(Account).where(Account.username == "bob"))
    async with maker() as session:
        assert await _stats(session, post_id, alice_id) == (0, 0)
        # And a post that goes takes its counter row with it.
        await session.execute(delete(Post).where(Post.id == post_id))
        await session.commit()
        assert (await session.scalars(select(PostStats.post_id))).all() == []
