"""The Mastodon connector without a token: it polls tag timelines of fake Mastodon
servers (real wire formats, on 127.0.0.1) and stores what they hold, once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.connectors.mastodon import MastodonRuntime
from backchannel.connectors.models import ConnectorStatus
from backchannel.moderation.models import EventPost
from backchannel.people.models import Account
from backchannel.posts.models import Post
from support_connectors import count_posts, eventually, make_event, runtime_context
from support_fediverse import FakeMastodon, running, sample, serve_fake, spec_for

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="module")
async def fakes() -> AsyncIterator[tuple[FakeMastodon, FakeMastodon]]:
    async with serve_fake() as first, serve_fake(first_id=113_000_000_000_000_000) as second:
        yield first, second


@pytest.fixture
def server(fakes: tuple[FakeMastodon, FakeMastodon]) -> FakeMastodon:
    for fake in fakes:
        fake.reset()
    return fakes[0]


@pytest.fixture
def other(server: FakeMastodon, fakes: tuple[FakeMastodon, FakeMastodon]) -> FakeMastodon:
    return fakes[1]


def counter(sessionmaker: Sessions, expected: int) -> Any:
    async def check() -> bool:
        return await count_posts(sessionmaker) == expected

    return check


async def test_polling_pages_forward_from_the_cursor_with_min_id(
    server: FakeMastodon, sessionmaker: Sessions, tmp_path: Path
) -> None:
    early = [server.post(f"early {n}") for n in range(3)]
    async with runtime_context(sessionmaker, tmp_path) as ctx:
        runtime = MastodonRuntime(ctx, spec_for(server, poll_seconds=0.05))
        async with running(runtime):
            await eventually(counter(sessionmaker, 3), what="the first page")
            await eventually(lambda: runtime.health.status == ConnectorStatus.POLLING)
            # 60 more at once: pages of 40 and 20; ids cross from 17 to 18 digits.
            later = [server.post(f"later {n}") for n in range(60)]
            await eventually(counter(sessionmaker, 63), what="all 63 posts")
            key = runtime.cursor_key("fedicamp")

            async def cursor_at_newest() -> bool:
                return await ctx.cursors.get(key) == str(later[-1]["id"])

            await eventually(cursor_at_newest, what="the cursor at the newest status")

    assert len(later[-1]["id"]) > len(early[0]["id"])
    polls = server.logged("/api/v1/timelines/tag/fedicamp")
    assert "min_id" not in polls[0].params
    assert all(p.params["limit"] == "40" for p in polls)
    min_ids = [p.params.get("min_id") for p in polls]
    # Each page starts where the one before ended: nothing skipped, nothing twice.
    assert {early[-1]["id"], later[39]["id"]} <= set(min_ids)
    assert runtime.health.counts["received"] == 63
    assert runtime.health.counts["kept"] == 63
    assert runtime.health.last_event_at is not None


async def test_polling_stays_within_the_servers_rate_limit(
    server: FakeMastodon, sessionmaker: Sessions, tmp_path: Path
) -> None:
    server.rate_limit, server.rate_window = 3, 0.3
    async with runtime_context(sessionmaker, tmp_path) as ctx:
        runtime = MastodonRuntime(ctx, spec_for(server, poll_seconds=0.01))
        async with running(runtime):
            server.post("one")
            await eventually(lambda: len(server.per_window()) >= 3, what="three rate windows")
            server.post("two")
            await eventually(counter(sessionmaker, 2), what="the posts")

    windows = server.per_window()
    # Never more than allowed (it would poll every 10 ms otherwise) …
    assert server.throttled == 0
    assert max(windows.values()) <= 3
    # … and again as soon as allowed: every window since the first has requests.
    assert all(windows.get(i, 0) >= 1 for i in range(min(windows), max(windows) + 1))


async def test_a_429_waits_for_retry_after(
    server: FakeMastodon, sessionmaker: Sessions, tmp_path: Path
) -> None:
    server.forced_429 = [1]
    server.post("after the wait")
    async with runtime_context(sessionmaker, tmp_path) as ctx:
        runtime = MastodonRuntime(ctx, spec_for(server, poll_seconds=0.01))
        async with running(runtime):
            await eventually(counter(sessionmaker, 1), what="the post")

    first, second = server.logged("/timelines/tag/")[:2]
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 1.0
    assert runtime.health.counts["rate_limited"] == 1


@pytest.mark.parametrize("refusal", [401, 422])
async def test_a_sign_in_only_timeline_asks_for_a_token_and_is_not_hammered(
    refusal: int, server: FakeMastodon, sessionmaker: Sessions, tmp_path: Path
) -> None:
    server.tag_timelines, server.sign_in_status = "authenticated", refusal
    server.post("members only")
    async with runtime_context(sessionmaker, tmp_path) as ctx:
        runtime = MastodonRuntime(ctx, spec_for(server, poll_seconds=0.01))
        async with running(runtime):
            await eventually(lambda: runtime.health.status == ConnectorStatus.UNAUTHORIZED)
            # It polls every 10 ms when things work; watch it for a while.
            await asyncio.sleep(0.3)

    assert len(server.logged("/timelines/tag/")) == 1
    assert server.logged("/timelines/tag/")[0].status == refusal
    error = runtime.health.last_error
    assert error.startswith(f"{server.domain} requires sign-in for tag timelines")
    assert "add an access token with read:statuses scope" in error
    assert await count_posts(sessionmaker) == 0


async def test_malformed_statuses_are_counted_and_skipped(
    server: FakeMastodon, sessionmaker: Sessions, tmp_path: Path
) -> None:
    def broken(change: Any) -> Any:
        def make(status_id: str) -> Any:
            raw = sample("status_local_media.json")
            raw["id"] = status_id
            raw["uri"] = f"{server.url}/users/ada/statuses/{status_id}"
            change(raw)
            return raw

        return make

    server.post("good one")
    server.add_raw(lambda _: "not a status")
    server.add_raw(broken(lambda r: r.pop("uri")))
    server.add_raw(broken(lambda r: r.update(account="ada")))
    server.post("good two")
    # The newest is malformed: the cursor must still move past it.
    newest_bad = server.add_raw(broken(lambda r: r.update(created_at="soon")))
    async with runtime_context(sessionmaker, tmp_path) as ctx:
        runtime = MastodonRuntime(ctx, spec_for(server, poll_seconds=0.01))
        async with running(runtime):
            await eventually(counter(sessionmaker, 2), what="the good posts")
            polls = len(server.logged("/timelines/tag/"))
            await eventually(lambda: len(server.logged("/timelines/tag/")) >= polls + 3)
            # Later polls start after the newest bad one: each is counted once.
            assert await ctx.cursors.get(runtime.cursor_key("fedicamp")) == newest_bad
            assert runtime.health.counts["malformed"] == 4
            server.post("good three")
            await eventually(counter(sessionmaker, 3), what="a post after the bad ones")

    assert runtime.health.counts["malformed"] == 4
    assert runtime.health.counts["received"] == 7


async def test_an_opted_out_author_is_hidden_by_moderation(
    server: FakeMastodon, sessionmaker: Sessions, tmp_path: Path
) -> None:
    quiet = server.post("lunch tip", template="status_noindex.json", username="quietfox")
    loud = server.post("keynote now")
    async with runtime_context(sessionmaker, tmp_path) as ctx:
        event = await make_event(ctx.writer, "fedicamp")
        runtime = MastodonRuntime(ctx, spec_for(server, poll_seconds=0.05))
        async with running(runtime):
            await eventually(counter(sessionmaker, 2), what="both posts")

    async with sessionmaker() as session:
        rows = (
            await session.execute(
                select(Post.source_uri, EventPost.state, EventPost.reason)
                .join(EventPost, EventPost.post_id == Post.id)
                .where(EventPost.event_id == event.id)
            )
        ).all()
        author = await session.scalar(select(Account).where(Account.username == "quietfox"))
    states = {uri: (state, reason) for uri, state, reason in rows}
    assert states[quiet["uri"]] == ("hidden", "the author opted out of being shown")
    assert states[loud["uri"]][0] == "approved"
    assert author is not None and author.opted_out
    assert author.acct == f"quietfox@{server.domain}"


async def test_the_same_status_on_two_servers_is_stored_once(
    server: FakeMastodon, other: FakeMastodon, sessionmaker: Sessions, tmp_path: Path
) -> None:
    shared = server.post("seen from both servers")
    copy = other.receive(shared, origin=server)
    other.post("only on the other server", username="bo")
    assert copy["id"] != shared["id"] and copy["uri"] == shared["uri"]
    async with runtime_context(sessionmaker, tmp_path) as ctx:
        first = MastodonRuntime(ctx, spec_for(server, poll_seconds=0.05))
        second = MastodonRuntime(ctx, spec_for(other, poll_seconds=0.05))
        async with running(first), running(second):
            await eventually(
                lambda: (
                    first.health.counts["received"] == 1 and second.health.counts["received"] == 2
                ),
                what="both servers polled",
            )
            await eventually(counter(sessionmaker, 2), what="two posts")

    async with sessionmaker() as session:
        authors = {
            post.source_uri: acct
            for post, acct in (
                await session.execute(select(Post, Account.acct).join(Account))
            ).all()
        }
    assert authors[shared["uri"]] == f"ada@{server.domain}"
    assert first.health.counts["created"] + second.health.counts["created"] == 2
