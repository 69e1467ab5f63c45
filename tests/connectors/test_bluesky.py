"""The Bluesky connector against a local Jetstream: the real capture, edits and deletes,
malformed frames, and tags that change while it runs."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.connectors.base import Health
from backchannel.connectors.bluesky import BlueskyRuntime
from backchannel.connectors.bluesky_profiles import author_from_did
from backchannel.connectors.bluesky_store import StoredPosts
from backchannel.connectors.jetstream import post_in
from backchannel.connectors.models import ConnectorStatus
from backchannel.kit.clock import utcnow
from support_bluesky import (
    bluesky_context,
    did,
    event_states,
    now_us,
    running,
    spec,
    stored_posts,
    tombstones,
)
from support_connectors import FIXTURES, make_event
from support_connectors import eventually as until
from support_jetstream import (
    FakeBlueskyAPI,
    JetstreamServer,
    delete_event,
    post_event,
    profile_view,
)

CAPTURE = FIXTURES / "jetstream" / "expected_v1.jsonl"
POST = "app.bsky.feed.post"
TAG = "app.bsky.richtext.facet#tag"


def read_capture(wanted: set[str]) -> dict[str, object]:
    """What a posts-only subscriber gets from the capture, read plainly: every identity
    and account event, every post commit; kept are the creates with a wanted tag facet."""
    received = identity = account = 0
    kept: dict[str, dict[str, object]] = {}
    for line in CAPTURE.read_text().splitlines():
        event = json.loads(line)
        if event["kind"] == "identity":
            identity += 1
        elif event["kind"] == "account":
            account += 1
        elif event["commit"]["collection"] != POST:
            continue
        received += 1
        if event["kind"] != "commit" or event["commit"]["operation"] != "create":
            continue
        record = event["commit"]["record"]
        tags = set()
        for facet in record.get("facets", []):
            for feature in facet["features"]:
                if feature["$type"] == TAG:
                    tags.add(feature["tag"].lower())
        if tags & wanted:
            uri = f"at://{event['did']}/{POST}/{event['commit']['rkey']}"
            kept[uri] = {"did": event["did"], "rkey": event["commit"]["rkey"], **record}
    return {
        "received": received,
        "identity": identity,
        "account": account,
        "kept": kept,
        "dropped": received - len(kept) - identity - account,
    }


async def test_replays_the_real_capture(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    wanted = {"talesatwonderworld", "howtotellaitoshutup"}
    expected = read_capture(wanted)
    kept = expected["kept"]
    assert isinstance(kept, dict)
    # The capture as it is: 20 events for a posts subscriber, two carrying these tags.
    assert (expected["received"], len(kept), expected["dropped"]) == (20, 2, 16)
    authors = [str(k["did"]) for k in kept.values()]
    api = FakeBlueskyAPI()
    # One author has a profile; the other is unknown to the API (stored by DID).
    api.profiles[authors[0]] = profile_view(authors[0], "tales.example.com", "Tempo Tales")
    lines = CAPTURE.read_bytes().splitlines()
    async with JetstreamServer(lines) as server:
        async with bluesky_context(sessionmaker, tmp_path, api, [server.url]) as ctx:
            await make_event(ctx.writer, "talesatwonderworld", ["howtotellaitoshutup"])
            async with running(ctx, spec(*wanted)) as runtime:
                counts = runtime.health.counts
                await until(lambda: counts["received"] == expected["received"])
                await until(lambda: runtime.in_flight == 0 and counts["created"] == 2)
                assert runtime.health.status == ConnectorStatus.CONNECTED
                assert dict(counts) == {
                    "received": 20,
                    "kept": 2,
                    "dropped": 16,
                    "identity": 1,
                    "account": 1,
                    "created": 2,
                }
            subscription = server.subscriptions[0]
            assert subscription.wanted_collections == [POST]
            assert subscription.cursor is None  # first start: live
    posts = await stored_posts(sessionmaker)
    assert set(posts) == set(kept)
    for uri, record in kept.items():
        post = posts[uri]
        assert post.source == "bluesky"
        assert post.content_text == str(record["text"]).strip()
        assert post.url == f"https://bsky.app/profile/{record['did']}/post/{record['rkey']}"
        assert post.author.actor_uri == record["did"]
    first = posts[next(u for u, r in kept.items() if r["did"] == authors[0])]
    assert first.author.acct == "tales.example.com@bsky.app"
    assert first.author.display_name == "Tempo Tales"
    assert first.author.profile_url == "https://bsky.app/profile/tales.example.com"
    second = posts[next(u for u, r in kept.items() if r["did"] == authors[1])]
    assert second.author.acct == f"{authors[1]}@bsky.app"
    assert second.author.display_name == authors[1]
    # Both count for the event; the capture's one post delete was not ours: no tombstone.
    assert set(await event_states(sessionmaker)) == set(kept)
    assert await tombstones(sessionmaker) == set()


async def test_edits_and_deletes_apply_in_order(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    alice, bob = did(1), did(2)
    api = FakeBlueskyAPI()
    api.profiles[alice] = profile_view(alice, "alice.bsky.social", "Alice")
    t = now_us()
    async with JetstreamServer() as server:
        async with bluesky_context(sessionmaker, tmp_path, api, [server.url]) as ctx:
            await make_event(ctx.writer, "dk2026", ["dk26"])
            # Lookups wait: every op below is queued while the ones before it are open.
            api.profiles_open.clear()
            async with running(ctx, spec("dk2026", "dk26")) as runtime:
                await server.publish(
                    post_event(alice, "r1", "hello #dk2026", time_us=t, tags=["dk2026"]),
                    post_event(
                        alice,
                        "r1",
                        "hello #dk2026, edited",
                        time_us=t + 1,
                        tags=["dk2026"],
                        operation="update",
                    ),
                    post_event(bob, "r2", "no tag here", time_us=t + 2),
                    # An edit that adds an alias to a post never seen: a new post.
                    post_event(
                        bob, "r2", "now #dk26", time_us=t + 3, tags=["dk26"], operation="update"
                    ),
                    # The tag edited away: still applied to the stored post.
                    post_event(alice, "r1", "tag removed", time_us=t + 4, operation="update"),
                    delete_event(bob, "r2", time_us=t + 5),
                    delete_event(did(3), "unrelated", time_us=t + 6),
                    post_event(alice, "r3", "gone soon #dk2026", time_us=t + 7, tags=["dk2026"]),
                    delete_event(alice, "r3", time_us=t + 8),
                )
                counts = runtime.health.counts
                await until(lambda: counts["received"] == 9)
                api.profiles_open.set()
                await until(lambda: runtime.in_flight == 0 and counts["deleted"] == 2)
                assert (counts["kept"], counts["dropped"]) == (7, 2)
    r1, r2, r3 = (f"at://{d}/{POST}/{k}" for d, k in ((alice, "r1"), (bob, "r2"), (alice, "r3")))
    posts = await stored_posts(sessionmaker)
    assert set(posts) == {r1}
    assert posts[r1].content_text == "tag removed"
    assert posts[r1].edited_at is not None
    assert posts[r1].tags == []
    # It no longer counts for the event; only our two deletes left tombstones.
    assert await event_states(sessionmaker) == {}
    assert await tombstones(sessionmaker) == {r2, r3}


async def test_malformed_frames_are_counted_and_skipped(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    author = did(7)
    t = now_us()
    tagged = post_event(author, "ok", "fine #dk2026", time_us=t + 20, tags=["dk2026"])
    oversized = post_event(author, "big", "x" * 300_000 + " #dk2026", time_us=t, tags=["dk2026"])
    too_long = post_event(author, "long", "y" * 20_001 + " #dk2026", time_us=t, tags=["dk2026"])
    bad_did = post_event("not-a-did", "r", "#dk2026", time_us=t, tags=["dk2026"])
    frames: list[bytes | dict[str, object]] = [
        b"not json",
        b"[1, 2, 3]",
        b'"a string"',
        b'{"kind": "commit"}',
        b'{"time_us": "soon", "kind": "commit"}',
        {"time_us": t, "kind": "commit", "commit": "not an object"},
        {"time_us": t, "kind": "commit", "commit": {"collection": POST, "operation": "create"}},
        {"time_us": t, "kind": "commit", "commit": {"collection": POST, "operation": "upsert"}},
        orjson.dumps(oversized),
        bad_did,
        too_long,
        tagged,
    ]
    async with JetstreamServer(frames) as server:
        server.ignore_max_size = True  # a server that sends oversized events anyway
        async with bluesky_context(sessionmaker, tmp_path, FakeBlueskyAPI(), [server.url]) as ctx:
            await make_event(ctx.writer, "dk2026")
            async with running(ctx, spec("dk2026")) as runtime:
                counts = runtime.health.counts
                await until(lambda: counts["received"] == len(frames))
                await until(lambda: runtime.in_flight == 0 and counts["created"] == 1)
                assert counts["malformed"] == 10
                # Kept by its tag, refused by PostIn (text over the limit).
                assert (counts["kept"], counts["refused"]) == (2, 1)
                assert runtime.health.status == ConnectorStatus.CONNECTED
                assert len(server.subscriptions) == 1  # never reconnected
    assert list(await stored_posts(sessionmaker)) == [f"at://{author}/{POST}/ok"]


async def test_new_tags_apply_without_reconnecting(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    author = did(9)
    t = now_us()
    async with JetstreamServer() as server:
        async with bluesky_context(sessionmaker, tmp_path, FakeBlueskyAPI(), [server.url]) as ctx:
            await make_event(ctx.writer, "dk2026", ["later"])
            async with running(ctx, spec("dk2026")) as runtime:
                counts = runtime.health.counts
                await server.publish(
                    post_event(author, "a", "#later", time_us=t, tags=["later"]),
                    # Written by a client that makes no facets: the text's hashtag counts.
                    post_event(author, "b", "#DK2026 at last", time_us=t + 1),
                )
                await until(lambda: counts["received"] == 2 and counts["created"] == 1)
                runtime.configure(spec("dk2026", "later"))
                await server.publish(
                    post_event(author, "c", "#later", time_us=t + 2, tags=["later"])
                )
                await until(lambda: counts["created"] == 2)
                assert len(server.subscriptions) == 1
    assert set(await stored_posts(sessionmaker)) == {
        f"at://{author}/{POST}/b",
        f"at://{author}/{POST}/c",
    }


async def test_posts_beyond_the_memory_seed_are_found_in_the_database(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    author, stranger = did(4), did(5)
    t = now_us()
    async with JetstreamServer() as server:
        async with bluesky_context(sessionmaker, tmp_path, FakeBlueskyAPI(), [server.url]) as ctx:
            await make_event(ctx.writer, "dk2026")
            sink = ctx.sink(Health())
            for n in range(3):  # stored earlier (another run, another process)
                data = post_in(author, f"p{n}", {"text": f"#dk2026 {n}"}, seen_at=utcnow())
                data.author = author_from_did(author)
                await sink.post(data)
            # Only the newest stored post fits in memory.
            runtime = BlueskyRuntime(ctx, spec("dk2026"))
            runtime.stored = StoredPosts(ctx.sessionmaker, limit=1)
            async with running(ctx, spec("dk2026"), runtime) as runtime:
                await server.publish(
                    delete_event(author, "p0", time_us=t),
                    post_event(author, "p1", "edited, no tag", time_us=t + 1, operation="update"),
                    delete_event(stranger, "p0", time_us=t + 2),  # no post of theirs here
                )
                counts = runtime.health.counts
                await until(lambda: counts["received"] == 3 and runtime.in_flight == 0)
                assert (counts["kept"], counts["dropped"]) == (2, 1)
                assert (counts["deleted"], counts["updated"]) == (1, 1)
    posts = await stored_posts(sessionmaker)
    assert set(posts) == {f"at://{author}/{POST}/p1", f"at://{author}/{POST}/p2"}
    assert posts[f"at://{author}/{POST}/p1"].content_text == "edited, no tag"
    assert await tombstones(sessionmaker) == {f"at://{author}/{POST}/p0"}
