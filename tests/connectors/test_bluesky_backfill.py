"""Bluesky backfill: an app-password session, ``searchPosts`` page by page, the same
door as live posts, and once per runtime start."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.connectors.base import Health, RuntimeContext
from backchannel.connectors.bluesky_backfill import BackfillError, backfill, backfill_key
from support_bluesky import bluesky_context, did, running, spec, stored_posts
from support_connectors import eventually as until
from support_connectors import make_event
from support_jetstream import FakeBlueskyAPI, JetstreamServer, profile_view

POST = "app.bsky.feed.post"
ME, PASSWORD = "organiser.bsky.social", "abcd-efgh-ijkl-mnop"
SINCE = "2026-11-01T00:00:00+00:00"


def post_view(n: int, tag: str) -> dict[str, Any]:
    author = did(n)
    return {
        "uri": f"at://{author}/{POST}/old{n}",
        "cid": "bafyreiapzyf65cmq55jklpnrihiygze2jmmdqvvkwqeiomd72pbp2iazuu",
        "author": profile_view(author, f"user{n}.bsky.social", f"User {n}"),
        "record": {
            "$type": POST,
            "createdAt": f"2026-11-0{n}T10:00:00.000Z",
            "text": f"earlier post {n}",
            "tags": [tag],
        },
        "indexedAt": f"2026-11-0{n}T10:00:01.000Z",
    }


def search_api() -> FakeBlueskyAPI:
    api = FakeBlueskyAPI()
    api.app_passwords[ME] = PASSWORD
    api.search_results = [post_view(n, "dk2026") for n in (1, 2, 3)] + [post_view(4, "other")]
    return api


async def test_backfill_ingests_what_search_finds(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    api = search_api()
    async with bluesky_context(sessionmaker, tmp_path, api, []) as ctx:
        await make_event(ctx.writer, "dk2026")
        sink = ctx.sink(Health())
        found = await backfill(
            ctx, sink, identifier=ME, app_password=PASSWORD, tags={"dk2026"}, since=SINCE
        )
        assert found == 3
        searches = api.calls("searchPosts")
        assert len(searches) == 2  # two pages of two
        params = searches[0].url.params
        assert (params["tag"], params["sort"]) == ("dk2026", "latest")
        assert params["since"] == "2026-11-01T00:00:00Z"
        assert searches[1].url.params["cursor"] == "2"
        # Again: nothing new.
        again = await backfill(
            ctx, sink, identifier=ME, app_password=PASSWORD, tags={"dk2026"}, since=SINCE
        )
        assert again == 0
    posts = await stored_posts(sessionmaker)
    assert set(posts) == {f"at://{did(n)}/{POST}/old{n}" for n in (1, 2, 3)}
    post = posts[f"at://{did(2)}/{POST}/old2"]
    assert post.author.acct == "user2.bsky.social@bsky.app"
    assert post.content_text == "earlier post 2"
    assert post.tags == ["dk2026"]


async def test_backfill_with_a_wrong_app_password_fails_clearly(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    api = search_api()
    async with bluesky_context(sessionmaker, tmp_path, api, []) as ctx:
        with pytest.raises(BackfillError, match="app password"):
            await backfill(
                ctx,
                ctx.sink(Health()),
                identifier=ME,
                app_password="wrong",
                tags={"x"},
                since=SINCE,
            )
    assert api.calls("searchPosts") == []


async def test_runtime_backfills_once(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    api = search_api()
    api.app_passwords["helper.bsky.social"] = PASSWORD
    entry = {"identifier": ME, "app_password": PASSWORD, "since": SINCE, "tags": ["dk2026"]}
    added = {**entry, "identifier": "helper.bsky.social"}
    async with JetstreamServer() as server:
        async with bluesky_context(sessionmaker, tmp_path, api, [server.url]) as ctx:
            await make_event(ctx.writer, "dk2026")
            async with running(ctx, spec("dk2026", backfill=[entry])) as runtime:
                await until(lambda: runtime.health.counts["backfilled"] == 3)
                await until(_done(ctx, ME))
            # A restart skips the finished one; one added while it runs runs then
            # (finding nothing new).
            async with running(ctx, spec("dk2026", backfill=[entry])) as runtime:
                await until(lambda: len(server.subscriptions) == 2)
                runtime.configure(spec("dk2026", backfill=[entry, added]))
                await until(_done(ctx, "helper.bsky.social"))
                assert runtime.health.counts["backfilled"] == 0
    signed_in = [orjson.loads(r.content)["identifier"] for r in api.calls("createSession")]
    assert signed_in == [ME, "helper.bsky.social"]
    assert len(await stored_posts(sessionmaker)) == 3


def _done(ctx: RuntimeContext, identifier: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await ctx.cursors.get(backfill_key(identifier, SINCE, ["dk2026"])) == "done"

    return check
