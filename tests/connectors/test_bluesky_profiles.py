"""Authors of Bluesky posts: looked up in batches, cached, and the post stored anyway
when the profile API is away; ``!no-unauthenticated`` authors are opted out."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.connectors.bluesky_profiles import ProfileDirectory
from backchannel.kit.http import make_client
from support_bluesky import (
    API_URL,
    bluesky_context,
    did,
    event_states,
    now_us,
    running,
    spec,
    stored_posts,
)
from support_connectors import eventually as until
from support_connectors import make_event
from support_jetstream import FakeBlueskyAPI, JetstreamServer, post_event, profile_view

POST = "app.bsky.feed.post"


def directory(api: FakeBlueskyAPI) -> tuple[ProfileDirectory, httpx.AsyncClient]:
    http = make_client(public_url="http://test", allow_private=True, transport=api.transport())
    return ProfileDirectory(http, API_URL, max_bytes=1_000_000), http


async def test_lookups_are_batched_and_cached() -> None:
    api = FakeBlueskyAPI()
    dids = [did(n) for n in range(30)]
    for n, d in enumerate(dids[:29]):
        api.profiles[d] = profile_view(d, f"user{n}.bsky.social", f"User {n}")
    profiles, http = directory(api)
    try:
        found = await asyncio.gather(*(profiles.lookup(d) for d in dids))
        # 30 authors: one call of 25 (the API's limit) and one of 5.
        assert [len(r.url.params.get_list("actors")) for r in api.calls("getProfiles")] == [25, 5]
        assert [p.handle if p else None for p in found] == [
            *(f"user{n}.bsky.social" for n in range(29)),
            None,  # unknown to the API
        ]
        again = await profiles.lookup(dids[3])
        missing = await profiles.lookup(dids[29])
        assert again is not None and again.display_name == "User 3"
        assert missing is None
        assert len(api.calls("getProfiles")) == 2  # both answered from the cache
    finally:
        await profiles.aclose()
        await http.aclose()


async def test_unreachable_api_is_not_retried_at_once() -> None:
    api = FakeBlueskyAPI()
    api.down = True
    profiles, http = directory(api)
    try:
        assert await profiles.lookup(did(1)) is None
        assert await profiles.lookup(did(2)) is None
        author = await profiles.author(did(3))
        assert len(api.calls("getProfiles")) == 1
        assert (author.acct, author.display_name) == (f"{did(3)}@bsky.app", did(3))
    finally:
        await profiles.aclose()
        await http.aclose()


async def test_post_is_stored_while_the_profile_api_is_down(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    alice, bob = did(1), did(2)
    api = FakeBlueskyAPI()
    api.profiles[alice] = profile_view(alice, "alice.bsky.social", "Alice")
    t = now_us()
    async with JetstreamServer() as server:
        async with bluesky_context(sessionmaker, tmp_path, api, [server.url]) as ctx:
            await make_event(ctx.writer, "dk2026")
            async with running(ctx, spec("dk2026")) as runtime:
                counts = runtime.health.counts
                await server.publish(post_event(alice, "a1", "#dk2026 one", time_us=t))
                await until(lambda: counts["created"] == 1)
                api.down = True
                await server.publish(
                    # Alice's identity changed: her cached profile is dropped …
                    {"did": alice, "time_us": t + 1, "kind": "identity", "identity": {}},
                    post_event(alice, "a2", "#dk2026 two", time_us=t + 2),
                    post_event(bob, "b1", "#dk2026 three", time_us=t + 3),
                )
                await until(lambda: runtime.in_flight == 0 and counts["created"] == 3)
                await server.publish(post_event(bob, "b2", "#dk2026 four", time_us=t + 4))
                await until(lambda: runtime.in_flight == 0 and counts["created"] == 4)
                # One failed call, then a pause: no call per post while the API is away.
                assert len(api.calls("getProfiles")) == 2
    posts = await stored_posts(sessionmaker)
    # … and the outage did not rename her to her DID: what was stored is kept.
    assert posts[f"at://{alice}/{POST}/a2"].author.acct == "alice.bsky.social@bsky.app"
    assert posts[f"at://{alice}/{POST}/a2"].author.display_name == "Alice"
    for rkey in ("b1", "b2"):
        author = posts[f"at://{bob}/{POST}/{rkey}"].author
        assert (author.acct, author.display_name) == (f"{bob}@bsky.app", bob)
        assert author.profile_url == f"https://bsky.app/profile/{bob}"


async def test_no_unauthenticated_authors_are_opted_out_and_hidden(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    shy, open_ = did(1), did(2)
    api = FakeBlueskyAPI()
    api.profiles[shy] = profile_view(shy, "shy.bsky.social", labels=["!no-unauthenticated"])
    api.profiles[open_] = profile_view(open_, "open.bsky.social", "Open")
    t = now_us()
    async with JetstreamServer() as server:
        async with bluesky_context(sessionmaker, tmp_path, api, [server.url]) as ctx:
            await make_event(ctx.writer, "dk2026")
            async with running(ctx, spec("dk2026")) as runtime:
                await server.publish(
                    post_event(shy, "s", "#dk2026 please do not show me", time_us=t),
                    post_event(open_, "o", "#dk2026 hello wall", time_us=t + 1),
                )
                await until(
                    lambda: runtime.in_flight == 0 and runtime.health.counts["created"] == 2
                )
                # Outage: what is known about her opt-out is not forgotten.
                api.down = True
                runtime.profiles.forget(shy)
                await server.publish(post_event(shy, "s2", "#dk2026 again", time_us=t + 2))
                await until(
                    lambda: runtime.in_flight == 0 and runtime.health.counts["created"] == 3
                )
    posts = await stored_posts(sessionmaker)
    assert posts[f"at://{shy}/{POST}/s"].author.opted_out is True
    assert posts[f"at://{open_}/{POST}/o"].author.opted_out is False
    assert await event_states(sessionmaker) == {
        f"at://{shy}/{POST}/s": "hidden",
        f"at://{shy}/{POST}/s2": "hidden",
        f"at://{open_}/{POST}/o": "approved",
    }


async def test_an_opt_out_learned_after_an_outage_takes_down_what_was_shown(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    shy = did(3)
    api = FakeBlueskyAPI()
    api.down = True
    t = now_us()
    async with JetstreamServer() as server:
        async with bluesky_context(sessionmaker, tmp_path, api, [server.url]) as ctx:
            await make_event(ctx.writer, "dk2026")
            async with running(ctx, spec("dk2026")) as runtime:
                runtime.profiles.retry_first = 0.2
                # The profile is out of reach: the post is stored under the DID, shown.
                await server.publish(post_event(shy, "s", "#dk2026 hi", time_us=t))
                await until(lambda: runtime.health.counts["created"] == 1)
                assert await event_states(sessionmaker) == {f"at://{shy}/{POST}/s": "approved"}
                api.profiles[shy] = profile_view(
                    shy, "shy.bsky.social", labels=["!no-unauthenticated"]
                )
                api.down = False

                async def withdrawn() -> bool:
                    states = await event_states(sessionmaker)
                    return states == {f"at://{shy}/{POST}/s": "hidden"}

                await until(withdrawn)


async def test_authors_stored_during_an_outage_are_updated_when_it_ends(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    bob = did(2)
    api = FakeBlueskyAPI()
    api.down = True
    t = now_us()
    async with JetstreamServer() as server:
        async with bluesky_context(sessionmaker, tmp_path, api, [server.url]) as ctx:
            await make_event(ctx.writer, "dk2026")
            async with running(ctx, spec("dk2026")) as runtime:
                runtime.profiles.retry_first = 0.2
                await server.publish(post_event(bob, "b1", "#dk2026 hi", time_us=t))
                await until(lambda: runtime.health.counts["created"] == 1)
                api.profiles[bob] = profile_view(bob, "bob.bsky.social", "Bob")
                api.down = False

                async def renamed() -> bool:
                    posts = await stored_posts(sessionmaker)
                    author = posts[f"at://{bob}/{POST}/b1"].author
                    return (author.acct, author.display_name) == ("bob.bsky.social@bsky.app", "Bob")

                await until(renamed)
