"""The feed runtime against a real feed server on 127.0.0.1: conditional GETs, what
gets stored for an event, edits, and how it copes with servers that misbehave."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.connectors.base import Sink, Spec
from backchannel.connectors.feed_posts import feed_acct_digest
from backchannel.connectors.feeds import FeedRuntime, FeedValidators, feed_cursor_key
from backchannel.connectors.models import ConnectorStatus
from backchannel.kit.http import make_client
from backchannel.moderation.models import EventPost
from backchannel.posts.models import Post
from backchannel.posts.schemas import PostIn
from backchannel.posts.service import IngestResult
from support_connectors import count_posts, make_event, runtime_context
from support_connectors import eventually as until
from support_feeds import ATOM, JSON_FEED, RSS, FeedServer, feed_server

DATA = Path(__file__).parent.parent / "data" / "feeds"
FAST = {"feed_poll_seconds": 0.05}
SAMPLES = {
    "rss": ("rss2.xml", RSS, "Day one at the Data Konferenz", "Growing tomatoes on a balcony"),
    "atom": ("atom.xml", ATOM, "Compiler-Workshop auf der DK2025", "Urlaub"),
    "json": ("feed.json", JSON_FEED, "Software engineering, a talk", "What I am reading"),
}


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[FeedServer]:
    async with feed_server() as running:
        yield running


@pytest.fixture
async def feeds(server: FeedServer) -> FeedServer:
    server.documents.clear()
    server.log.clear()
    return server


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def feed_spec(url: str, tags: set[str], **options: Any) -> Spec:
    return Spec(
        key=feed_cursor_key(url),
        kind="feed",
        target=url,
        connector_ids=(),
        tags=frozenset(tags),
        options=options,
    )


@asynccontextmanager
async def running(runtime: FeedRuntime) -> AsyncIterator[None]:
    """Run the runtime as the supervisor does; it must still be running at the end."""
    task = asyncio.create_task(runtime.run())
    try:
        yield
    finally:
        still_running = not task.done()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task  # re-raises whatever a crashed runtime raised
    assert still_running, "run() returned; it should poll until cancelled"


async def posts_by_title(sm: async_sessionmaker[AsyncSession]) -> dict[str | None, Post]:
    async with sm() as session:
        return {p.title: p for p in (await session.scalars(select(Post))).unique()}


async def event_post_count(sm: async_sessionmaker[AsyncSession], event_id: int) -> int:
    async with sm() as session:
        rows = await session.scalars(select(EventPost).where(EventPost.event_id == event_id))
        return len(rows.all())


# --- conditional GET, changes and edits ------------------------------------------


async def test_second_poll_is_conditional_and_gets_304(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.publish("/ada.xml", sample("rss2.xml"))
    async with runtime_context(sessionmaker, tmp_path, **FAST) as ctx:
        runtime = FeedRuntime(ctx, feed_spec(url, {"dk2025"}))
        async with running(runtime):
            # Two answers of 304 handled (the server's log alone runs ahead of that).
            await until(lambda: runtime.health.counts["not_modified"] >= 2)

        first, second = feeds.requests_for("/ada.xml")[:2]
        assert (first.if_none_match, first.status) == (None, 200)
        assert second.if_none_match is not None and second.status == 304
        assert await count_posts(sessionmaker) == 2
        counts = runtime.health.counts
        assert counts["fetched"] == 1 and counts["created"] == 2
        assert counts["not_modified"] >= 2
        assert runtime.health.status == ConnectorStatus.POLLING
        assert runtime.health.last_event_at is not None
        stored = FeedValidators.loads(await ctx.cursors.get(feed_cursor_key(url)))
        assert stored.etag == second.if_none_match


async def test_a_changed_feed_brings_only_new_and_changed_entries(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, feeds: FeedServer
) -> None:
    original = sample("rss2.xml").decode()
    url = feeds.publish("/ada.xml", original.encode())
    new_item = """<item><title>Day two</title>
      <link>https://ada.example/2025/05/day-two</link>
      <guid>https://ada.example/2025/05/day-two</guid>
      <pubDate>Sun, 18 May 2025 17:30:00 GMT</pubDate>
      <description>Workshops all day. #dk2025</description></item>"""
    changed = original.replace("<item>", new_item + "<item>", 1).replace(
        "weave algebra.</p>", "weave algebra (slides now online).</p>"
    )
    async with runtime_context(sessionmaker, tmp_path, **FAST) as ctx:
        event = await make_event(ctx.writer, "dk2025")
        runtime = FeedRuntime(ctx, feed_spec(url, {"dk2025"}))
        async with running(runtime):
            await until(lambda: runtime.health.counts["not_modified"] >= 1)
            before = (await posts_by_title(sessionmaker))["Day one at the Data Konferenz"]
            outcomes = ("created", "updated", "unchanged")
            counts_before = sum(runtime.health.counts[k] for k in outcomes)
            feeds.publish("/ada.xml", changed.encode())
            # One outcome (created, updated or unchanged) per entry kept from the change.
            await until(
                lambda: sum(runtime.health.counts[k] for k in outcomes) - counts_before >= 3
            )

        posts = await posts_by_title(sessionmaker)
        assert set(posts) == {"Day one at the Data Konferenz", "Hallway track", "Day two"}
        edited = posts["Day one at the Data Konferenz"]
        assert edited.id == before.id
        assert "slides now online" in edited.content_html
        assert edited.edited_at is not None
        counts = runtime.health.counts
        assert (counts["created"], counts["updated"], counts["unchanged"]) == (3, 1, 1)
        assert await event_post_count(sessionmaker, event.id) == 3


async def test_new_tags_bring_entries_passed_over_before(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.publish("/ada.xml", sample("rss2.xml"))
    async with runtime_context(sessionmaker, tmp_path, **FAST) as ctx:
        runtime = FeedRuntime(ctx, feed_spec(url, {"dk2025"}))
        async with running(runtime):
            await until(lambda: runtime.health.counts["not_modified"] >= 1)
            asked_before = len(feeds.requests_for("/ada.xml"))
            runtime.configure(feed_spec(url, {"dk2025", "gardening"}))
            await until(lambda: runtime.health.counts["created"] == 3)

        # The feed did not change, the question did: it was asked for unconditionally.
        after = feeds.requests_for("/ada.xml")[asked_before:]
        assert any(r.if_none_match is None and r.status == 200 for r in after)
        assert "Growing tomatoes on a balcony" in await posts_by_title(sessionmaker)


async def test_a_restarted_runtime_resumes_from_the_stored_validators(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.publish(
        "/ada.xml", sample("rss2.xml"), etag=None, last_modified=datetime(2025, 5, 17, tzinfo=UTC)
    )
    async with runtime_context(sessionmaker, tmp_path, **FAST) as ctx:
        assert await FeedRuntime(ctx, feed_spec(url, {"dk2025"})).poll()
        later = FeedRuntime(ctx, feed_spec(url, {"dk2025"}))
        assert await later.poll()

    first, second = feeds.requests_for("/ada.xml")
    assert first.if_modified_since is None
    assert second.if_modified_since == "Sat, 17 May 2025 00:00:00 GMT"
    assert second.status == 304
    assert await count_posts(sessionmaker) == 2


async def test_a_server_without_validators_does_not_cause_reingestion(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.publish("/plain.xml", sample("rss2.xml"), etag=None)
    async with runtime_context(sessionmaker, tmp_path, **FAST) as ctx:
        runtime = FeedRuntime(ctx, feed_spec(url, {"dk2025"}))
        for _ in range(3):
            assert await runtime.poll()
    counts = runtime.health.counts
    assert (counts["fetched"], counts["not_modified"], counts["created"]) == (3, 2, 2)
    assert counts["unchanged"] == 0


class UnreachableDatabase(Sink):
    """The door when the database is away: every write fails."""

    async def post(self, data: PostIn) -> IngestResult | None:
        raise ConnectionError("the database went away")


async def test_the_cursor_moves_only_after_the_posts_are_committed(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.publish("/ada.xml", sample("rss2.xml"))
    async with runtime_context(sessionmaker, tmp_path, **FAST) as ctx:
        runtime = FeedRuntime(ctx, feed_spec(url, {"dk2025"}))
        working = runtime.sink
        runtime.sink = UnreachableDatabase(ctx.writer, ctx.base_url, runtime.health)
        assert await runtime.poll()
        assert runtime.health.status == ConnectorStatus.ERROR
        assert "could not be stored" in runtime.health.last_error
        assert await ctx.cursors.get(feed_cursor_key(url)) is None

        runtime.sink = working
        assert await runtime.poll()
        assert await count_posts(sessionmaker) == 2
        assert await ctx.cursors.get(feed_cursor_key(url)) is not None
    # Nothing was acknowledged the first time, so the second poll asked for everything.
    assert [r.if_none_match for r in feeds.requests_for("/ada.xml")] == [None, None]


# --- the three formats -------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(SAMPLES))
async def test_tagged_entries_count_and_a_registered_feed_brings_all_since(
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    feeds: FeedServer,
    kind: str,
) -> None:
    name, content_type, tagged_title, other_title = SAMPLES[kind]
    url = feeds.publish(f"/{name}", sample(name), content_type)
    async with runtime_context(sessionmaker, tmp_path, **FAST) as ctx:
        event = await make_event(ctx.writer, "dk2025")
        runtime = FeedRuntime(ctx, feed_spec(url, {"dk2025"}))
        assert await runtime.poll()

        # Tag-matching: entries with the event's tag (category or #tag) only.
        posts = await posts_by_title(sessionmaker)
        assert len(posts) == 2
        assert other_title not in posts
        post = posts[tagged_title]
        assert post.source == "feed"
        assert post.url is not None and post.url.startswith("https://")
        assert post.content_text and len(post.content_text) < 600
        assert "dk2025" in post.tags
        assert post.author.source == "feed"
        assert post.author.display_name in {"Ada Lovelace", "Grace Hopper", "Margaret Hamilton"}
        assert post.author.actor_uri == url
        port = httpx.URL(url).port
        assert post.author.acct.endswith(f"_{feed_acct_digest(url)}@127.0.0.1:{port}")
        assert await event_post_count(sessionmaker, event.id) == 2
        assert runtime.health.counts["dropped"] == runtime.health.counts["entries"] - 2

        # Registered to the event: every entry since `since` counts, tag or not.
        since = "2025-05-01T00:00:00+00:00"
        runtime.configure(feed_spec(url, {"dk2025"}, event_ids=[event.id], since=since))
        assert await runtime.poll()

    posts = await posts_by_title(sessionmaker)
    assert other_title in posts
    assert "Notes on the analytical engine" not in posts  # 2016, before `since`
    assert await event_post_count(sessionmaker, event.id) == len(posts) == 3


# --- servers that misbehave --------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"<html><body>We moved!</body></html>", 200, "not an RSS, Atom or JSON feed"),
        (sample("rss2.xml")[:900], 200, "truncated"),
        (b"<rss>" + b"x" * 5000 + b"</rss>", 200, "larger than 4096 bytes"),
        (b"not here", 404, "404 Not Found"),
        (b"oops", 500, "500 Internal Server Error"),
    ],
    ids=["html", "truncated", "huge", "404", "500"],
)
async def test_a_bad_answer_is_reported_and_polling_goes_on(
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    feeds: FeedServer,
    body: bytes,
    status: int,
    message: str,
) -> None:
    url = feeds.publish("/bad.xml", body, "text/html", status=status)
    async with runtime_context(sessionmaker, tmp_path, http_max_bytes=4096, **FAST) as ctx:
        runtime = FeedRuntime(ctx, feed_spec(url, {"dk2025"}))
        async with running(runtime):
            await until(lambda: runtime.health.counts["errors"] >= 2)
        assert runtime.health.status == ConnectorStatus.ERROR
        assert message in runtime.health.last_error
        assert await ctx.cursors.get(feed_cursor_key(url)) is None
        # Fixed, the next poll takes it up again.
        feeds.publish("/bad.xml", sample("feed.json"), JSON_FEED)
        assert await runtime.poll()
        assert runtime.health.snapshot()["status"] == "polling"
        assert runtime.health.counts["created"] == 2
        assert await ctx.cursors.get(feed_cursor_key(url)) is not None


async def test_a_slow_server_times_out(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.publish("/slow.xml", sample("rss2.xml"), delay=30)
    async with runtime_context(sessionmaker, tmp_path, **FAST) as ctx:
        impatient = make_client(public_url=ctx.base_url, allow_private=True, timeout=0.3)
        try:
            runtime = FeedRuntime(replace(ctx, http=impatient), feed_spec(url, {"dk2025"}))
            assert await runtime.poll()
        finally:
            await impatient.aclose()
    assert runtime.health.status == ConnectorStatus.ERROR
    assert "did not answer in time" in runtime.health.last_error
    assert await count_posts(sessionmaker) == 0


async def test_gone_stops_polling_and_says_so(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.publish("/gone.xml", b"gone", "text/plain", status=410)
    async with runtime_context(sessionmaker, tmp_path, **FAST) as ctx:
        runtime = FeedRuntime(ctx, feed_spec(url, {"dk2025"}))
        async with running(runtime):
            await until(lambda: runtime.health.status == ConnectorStatus.STOPPED)
            # Ten poll intervals later, still the one request.
            await asyncio.sleep(0.5)
    assert len(feeds.requests_for("/gone.xml")) == 1
    assert "410 Gone" in runtime.health.last_error
    assert "no longer polled" in runtime.health.last_error


async def test_repeated_failures_back_off_and_retry_after_is_honoured(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.publish("/down.xml", b"down", "text/plain", status=500)
    async with runtime_context(sessionmaker, tmp_path, feed_poll_seconds=10) as ctx:
        runtime = FeedRuntime(ctx, feed_spec(url, {"dk2025"}))
        assert 9 <= runtime.next_delay() <= 11
        delays = []
        for _ in range(4):
            assert await runtime.poll()
            delays.append(runtime.next_delay())
        assert delays[0] < delays[1] < delays[2] < delays[3]
        assert 70 <= delays[3] <= 90  # 10 s doubled three times, give or take jitter

        feeds.publish(
            "/down.xml", b"busy", "text/plain", status=503, headers={"Retry-After": "3600"}
        )
        assert await runtime.poll()
        assert runtime.next_delay() >= 3600 * 0.9
        assert "503 Service Unavailable" in runtime.health.last_error

        feeds.publish("/down.xml", sample("rss2.xml"))
        assert await runtime.poll()
        assert 9 <= runtime.next_delay() <= 11
        assert runtime.health.status == ConnectorStatus.POLLING


async def test_a_private_feed_says_it_needs_to_be_public(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.publish("/private.xml", b"no", "text/plain", status=401)
    async with runtime_context(sessionmaker, tmp_path, **FAST) as ctx:
        runtime = FeedRuntime(ctx, feed_spec(url, {"dk2025"}))
        assert await runtime.poll()
    assert runtime.health.status == ConnectorStatus.UNAUTHORIZED
    assert "not public" in runtime.health.last_error


async def test_an_address_on_the_private_network_is_refused(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, feeds: FeedServer
) -> None:
    url = feeds.publish("/ada.xml", sample("rss2.xml"))
    async with runtime_context(sessionmaker, tmp_path, **FAST) as ctx:
        guarded = make_client(public_url=ctx.base_url, allow_private=False)
        try:
            runtime = FeedRuntime(replace(ctx, http=guarded), feed_spec(url, {"dk2025"}))
            assert await runtime.poll()
        finally:
            await guarded.aclose()
    assert "may not be fetched" in runtime.health.last_error
    assert feeds.requests_for("/ada.xml") == []
