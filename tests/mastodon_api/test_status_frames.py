"""The Mastodon streams' frames: stored as the post's JSON, shown as Status JSON.

Ingest puts posts on ``m:public`` and ``m:user:ID`` (and the native ``tag:TAG``) as their
own JSON; ``StatusFrames`` renders them for the streams that listen, live (from the
broker) and from the store (replays), and makes the local and remote streams views of
the public ones, and the hashtag streams views of the tag channels, with the same
sequence numbers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.broker.memory import MemoryBroker
from backchannel.db.writer import UnitOfWork, Writer
from backchannel.mastodon_api.status_frames import StatusFrames, View, view_of
from backchannel.people import service as people
from backchannel.people.models import Account
from backchannel.posts import service as posts
from backchannel.posts.schemas import PostIn
from backchannel.streams.frames import Frame, Skipped
from backchannel.streams.hub import Waker
from backchannel.streams.service import StreamService

Maker = async_sessionmaker[AsyncSession]
BASE = "http://backchannel.test"
TAG = "framesconf"


@pytest.fixture
async def streams(sessionmaker: Maker) -> StreamService:
    return StreamService(sessionmaker, capacity=64, heartbeat=15)


@pytest.fixture
async def status_frames(sessionmaker: Maker, streams: StreamService) -> AsyncIterator[StatusFrames]:
    frames = StatusFrames(sessionmaker, streams, BASE)
    await frames.start()
    yield frames
    await frames.stop()


@pytest.fixture
async def writer(
    sessionmaker: Maker, streams: StreamService, status_frames: StatusFrames
) -> AsyncIterator[Writer]:
    broker = MemoryBroker()

    async def deliver(frames: list[Frame]) -> None:
        await streams.hub.deliver(frames)
        status_frames.deliver(frames)

    await broker.start(deliver)
    writer = Writer(sessionmaker, broker)
    await writer.start()
    yield writer
    await writer.stop()


def remote(n: int, **fields: Any) -> PostIn:
    return PostIn.model_validate(
        {
            "source": "mastodon",
            "source_uri": f"https://social.example/notes/{n}",
            "content_html": f"<p>Remote post {n} #{TAG}</p>",
            "author": {"acct": "alice@social.example", "source": "mastodon"},
            **fields,
        }
    )


def local(n: int, author: Account, **fields: Any) -> PostIn:
    return PostIn.model_validate(
        {
            "source": "local",
            "source_uri": f"{BASE}/posts/{n}",
            "author_id": author.id,
            "text": f"Local post {n} #{TAG}",
            **fields,
        }
    )


def ingest(data: PostIn) -> Callable[[UnitOfWork], Awaitable[posts.IngestResult]]:
    async def write(uow: UnitOfWork) -> posts.IngestResult:
        return await posts.ingest(uow, data, base_url=BASE)

    return write


async def post(writer: Writer, data: PostIn) -> str:
    """The new post's id, as Status JSON gives it."""
    result: posts.IngestResult = await writer.submit(ingest(data))
    assert result.post is not None
    return str(result.post.id)


async def local_author(writer: Writer) -> Account:
    async def write(uow: UnitOfWork) -> Account:
        return await people.create_local_account(
            uow.session, "hallway", "correct-horse-battery", "attendee"
        )

    account: Account = await writer.submit(write)
    return account


def statuses(frames: list[Frame]) -> list[dict[str, Any]]:
    return [orjson.loads(f.data) for f in frames if not isinstance(f, Skipped)]


def test_local_and_remote_streams_are_views_of_the_public_ones() -> None:
    assert (view_of("m:public:local").source, view_of("m:public:local").side) == (
        "m:public",
        "local",
    )
    assert view_of("m:public:remote").side == "remote"
    assert (view_of("m:hashtag:local:x").source, view_of("m:hashtag:local:x").side) == (
        "tag:x",
        "local",
    )
    assert view_of("m:hashtag:x") == View("m:hashtag:x", "tag:x", "any", native_tag=True)
    assert view_of("m:user:7").source == "m:user:7"


async def test_hashtag_streams_show_the_tag_channel_as_mastodon_names_it(
    writer: Writer, status_frames: StatusFrames
) -> None:
    """Edits, removed tags, deletes and boosts on the view of ``tag:TAG``."""
    first = await post(writer, remote(1))
    await post(writer, remote(2, reblog_of_uri=remote(1).source_uri))
    # An edit that keeps the tag, then one that drops it, then the post comes back.
    await post(writer, remote(1, content_html=f"<p>Edited #{TAG}</p>"))
    await post(writer, remote(1, content_html="<p>No tag any more</p>"))

    async def gone(uow: UnitOfWork) -> bool:
        return await posts.delete(uow, remote(1).source_uri)

    await writer.submit(gone)

    frames = await status_frames.read_store(f"m:hashtag:{TAG}", 0, None, 100)
    shown = [(f.seq, f.event) for f in frames if not isinstance(f, Skipped)]
    # 1: the post (deleted by now, so skipped), 2: the boost (never on a hashtag
    # stream), 3: the edit (skipped too: the post is gone), 4: the tag was removed.
    assert [f.seq for f in frames] == [1, 2, 3, 4]
    assert all(isinstance(f, Skipped) for f in frames[:3])
    assert shown == [(4, "delete")]
    assert frames[3].data == first.encode()
    assert {f.channel for f in frames} == {f"m:hashtag:{TAG}"}
    # Nothing more was stored for the Mastodon stream than for the native one.
    assert await status_frames.read_seqs([f"m:hashtag:{TAG}"]) == [4]


async def test_hashtag_streams_render_new_posts_and_edits(
    writer: Writer, status_frames: StatusFrames
) -> None:
    created = await post(writer, remote(1))
    await post(writer, remote(1, content_html=f"<p>Edited #{TAG}</p>"))

    frames = await status_frames.read_store(f"m:hashtag:local:{TAG}", 0, None, 100)
    assert all(isinstance(f, Skipped) for f in frames)  # a remote post: not local
    frames = await status_frames.read_store(f"m:hashtag:{TAG}", 0, None, 100)
    assert [f.event for f in frames] == ["update", "status.update"]
    assert [s["id"] for s in statuses(frames)] == [created, created]
    assert "Edited" in statuses(frames)[1]["content"]


async def test_a_replay_shows_statuses_as_stored_now(
    writer: Writer, status_frames: StatusFrames
) -> None:
    parent = await post(writer, remote(1))
    reply = await post(writer, remote(2, in_reply_to_uri=remote(1).source_uri))

    frames = await status_frames.read_store("m:public", 0, None, 100)

    assert [f.seq for f in frames] == [1, 2]
    assert [f.event for f in frames] == ["update", "update"]
    first, second = statuses(frames)
    assert first["id"] == parent and second["id"] == reply
    assert second["in_reply_to_id"] == parent
    # Rendered now: the author's counter counts both posts, and the parent its reply.
    assert first["account"]["statuses_count"] == 2
    assert first["replies_count"] == 1
    assert first["account"]["acct"] == "alice@social.example"


async def test_views_keep_the_numbers_and_skip_the_other_side(
    writer: Writer, status_frames: StatusFrames
) -> None:
    author = await local_author(writer)
    here = await post(writer, local(1, author))
    there = await post(writer, remote(2))
    again = await post(writer, local(3, author))

    for channel in ("m:public:local", f"m:hashtag:local:{TAG}"):
        frames = await status_frames.read_store(channel, 0, None, 100)
        assert [f.seq for f in frames] == [1, 2, 3]
        assert isinstance(frames[1], Skipped) and frames[1].single == b""
        assert [s["id"] for s in statuses(frames)] == [here, again]
        assert {f.channel for f in frames} == {channel}
    remote_frames = await status_frames.read_store("m:public:remote", 0, None, 100)
    assert [s["id"] for s in statuses(remote_frames)] == [there]
    # A resume from the middle: the numbers mean the same on the view.
    resumed = await status_frames.read_store("m:public:local", 1, None, 100)
    assert [s["id"] for s in statuses(resumed)] == [again]
    assert await status_frames.read_seqs(["m:public:local", "m:public"]) == [3, 3]


async def test_a_post_deleted_before_it_is_shown_is_skipped(
    writer: Writer, status_frames: StatusFrames
) -> None:
    created = await post(writer, remote(1))

    async def gone(uow: UnitOfWork) -> bool:
        return await posts.delete(uow, remote(1).source_uri)

    await writer.submit(gone)

    frames = await status_frames.read_store("m:public", 0, None, 100)
    assert isinstance(frames[0], Skipped)
    assert (frames[1].event, frames[1].data) == ("delete", created.encode())


async def test_live_frames_are_rendered_for_the_streams_listening(
    writer: Writer, status_frames: StatusFrames
) -> None:
    author = await local_author(writer)
    waker = Waker()
    [local_buffer, tag_buffer] = status_frames.hub.subscribe(
        ["m:public:local", f"m:hashtag:{TAG}"], waker
    )

    mine = await post(writer, local(1, author))
    theirs = await post(writer, remote(2))

    deadline = asyncio.get_running_loop().time() + 10
    while local_buffer.last_seq < 2 or tag_buffer.last_seq < 2:
        assert asyncio.get_running_loop().time() < deadline, "nothing was rendered"
        await asyncio.sleep(0.02)
    assert [s["id"] for s in statuses(list(local_buffer.frames))] == [mine]
    assert [s["id"] for s in statuses(list(tag_buffer.frames))] == [
        mine,
        theirs,
    ]
    assert statuses(list(tag_buffer.frames))[1]["account"]["acct"] == "alice@social.example"
    # Nobody listens to the remote view: nothing of it is kept.
    assert "m:public:remote" not in status_frames.hub.channels()
