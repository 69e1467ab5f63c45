"""Ingest in writer groups: many posts in one transaction keep every guarantee of one.

Writes submitted together run in one group (one transaction, one commit, one publish);
these tests check that what ingest holds back for the group's bulk inserts behaves
exactly as if each post had been written on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.broker.base import FrameSink
from backchannel.db.writer import UnitOfWork, Writer
from backchannel.events import service as events
from backchannel.events.models import Event
from backchannel.events.schemas import EventCreate
from backchannel.kit.clock import utcnow
from backchannel.mastodon_api.models import AccountStats, Reply
from backchannel.moderation.models import EventPost
from backchannel.people import repository as people_repo
from backchannel.people import service as people
from backchannel.people.models import Account
from backchannel.posts import repository as posts_repo
from backchannel.posts import service as posts
from backchannel.posts.models import Post, PostTag, SourceKind, Tombstone
from backchannel.posts.schemas import PostIn
from backchannel.streams.frames import Frame
from backchannel.streams.models import StreamEntry

Maker = async_sessionmaker[AsyncSession]
BASE = "http://backchannel.test"
TAG = "groupconf"


class RecordingBroker:
    """Records each publish (one per commit that emitted frames) and whether a new
    session already saw those frames' entries at that moment."""

    def __init__(self, sessionmaker: Maker) -> None:
        self._sessionmaker = sessionmaker
        self.published: list[list[Frame]] = []
        #: Per publish: were all of its frames' stream entries readable already?
        self.committed_before: list[bool] = []

    async def start(self, sink: FrameSink) -> None:
        return None

    async def publish(self, frames: list[Frame]) -> None:
        if not frames:
            return
        keys = {(f.channel, f.seq) for f in frames}
        async with self._sessionmaker() as session:
            rows = await session.execute(select(StreamEntry.channel, StreamEntry.seq))
            stored = {(c, s) for c, s in rows}
        self.committed_before.append(keys <= stored)
        self.published.append(frames)

    async def stop(self) -> None:
        return None


@pytest.fixture
async def broker(sessionmaker: Maker) -> RecordingBroker:
    return RecordingBroker(sessionmaker)


@pytest.fixture
async def writer(sessionmaker: Maker, broker: RecordingBroker) -> AsyncIterator[Writer]:
    writer = Writer(sessionmaker, broker)
    await writer.start()
    yield writer
    await writer.stop()


async def make_event(writer: Writer, **rules: Any) -> Event:
    async def write(uow: UnitOfWork) -> Event:
        owner = await people.create_local_account(
            uow.session, "organiser", "correct-horse-battery", "organiser"
        )
        now = utcnow()
        data = EventCreate.model_validate(
            {
                "name": "Group conference",
                "primary_tag": TAG,
                "starts_at": now - timedelta(hours=1),
                "ends_at": now + timedelta(days=1),
                "rules": rules,
            }
        )
        return await events.create_event(uow.session, data, owner)

    event: Event = await writer.submit(write)
    return event


async def local_account(writer: Writer, name: str) -> Account:
    async def write(uow: UnitOfWork) -> Account:
        return await people.create_local_account(
            uow.session, name, "correct-horse-battery", "attendee"
        )

    account: Account = await writer.submit(write)
    return account


def remote(n: int | str, text: str = "", **fields: Any) -> PostIn:
    fields.setdefault("author", {"acct": "alice@social.example", "source": "mastodon"})
    return PostIn.model_validate(
        {
            "source": "mastodon",
            "source_uri": f"https://social.example/notes/{n}",
            "content_html": f"<p>{text or f'Post {n} from the hall'} #{TAG}</p>",
            **fields,
        }
    )


def ingest(data: PostIn) -> Callable[[UnitOfWork], Awaitable[posts.IngestResult]]:
    async def write(uow: UnitOfWork) -> posts.IngestResult:
        return await posts.ingest(uow, data, base_url=BASE)

    return write


def delete(uri: str) -> Callable[[UnitOfWork], Awaitable[bool]]:
    async def write(uow: UnitOfWork) -> bool:
        return await posts.delete(uow, uri)

    return write


async def together(writer: Writer, *writes: Callable[[UnitOfWork], Awaitable[Any]]) -> list[Any]:
    """Submit ``writes`` at once: the idle writer takes them as one group."""
    return await asyncio.gather(*(writer.submit(w) for w in writes), return_exceptions=True)


async def count(sessionmaker: Maker, model: Any, *where: Any) -> int:
    async with sessionmaker() as session:
        value = await session.scalar(select(func.count()).select_from(model).where(*where))
    return int(value or 0)


async def test_a_group_of_posts_is_one_commit_with_every_row_and_frame(
    sessionmaker: Maker, writer: Writer, broker: RecordingBroker
) -> None:
    event = await make_event(writer)
    results = await together(writer, *(ingest(remote(n)) for n in range(40)))

    assert [r.outcome for r in results] == ["created"] * 40
    assert len(broker.published) == 1, "one group, one commit, one publish"
    assert broker.committed_before == [True], "published only after the commit"
    assert await count(sessionmaker, Post) == 40
    assert await count(sessionmaker, PostTag, PostTag.tag == TAG) == 40
    assert await count(sessionmaker, EventPost, EventPost.event_id == event.id) == 40
    wall = [f for f in broker.published[0] if f.channel == f"event:{event.id}:wall"]
    assert [f.seq for f in wall] == list(range(1, 41))
    assert [orjson.loads(f.data)["id"] for f in wall] == [str(r.post.id) for r in results]
    async with sessionmaker() as session:
        stored = (await session.scalars(select(Post.id).order_by(Post.id))).all()
        stats = await session.scalar(select(AccountStats.statuses_count))
    assert sorted(stored) == sorted(r.post.id for r in results)
    assert stats == 40


async def test_the_mastodon_channels_carry_each_post_of_the_group_and_count_it(
    sessionmaker: Maker, writer: Writer, broker: RecordingBroker
) -> None:
    first = await together(writer, *(ingest(remote(n)) for n in range(5)))
    second = await together(writer, *(ingest(remote(n)) for n in range(5, 8)))

    frames = [f for batch in broker.published for f in batch if f.channel == "m:public"]
    # Framed as the post's own channels frame it: one stored payload for all of them.
    assert [f.data for f in frames] == [r.json for r in [*first, *second]]
    assert [f.seq for f in frames] == list(range(1, 9))
    async with sessionmaker() as session:
        stats = await session.scalar(select(AccountStats.statuses_count))
    assert stats == 8


async def test_the_same_post_twice_in_a_group_is_one_post(
    sessionmaker: Maker, writer: Writer
) -> None:
    first, second = await together(writer, ingest(remote(1)), ingest(remote(1)))

    assert (first.outcome, second.outcome) == ("created", "unchanged")
    assert first.post.id == second.post.id
    assert await count(sessionmaker, Post) == 1


async def test_an_edit_in_the_group_that_creates_the_post_applies_after_it(
    sessionmaker: Maker, writer: Writer
) -> None:
    created, edited = await together(
        writer, ingest(remote(1, "First words")), ingest(remote(1, "Second thoughts"))
    )

    assert (created.outcome, edited.outcome) == ("created", "updated")
    async with sessionmaker() as session:
        post = await session.scalar(select(Post))
    assert post is not None and "Second thoughts" in post.content_text


async def test_a_post_and_its_delete_in_one_group_leave_a_tombstone(
    sessionmaker: Maker, writer: Writer
) -> None:
    uri = remote(1).source_uri
    created, deleted = await together(writer, ingest(remote(1)), delete(uri))

    assert created.outcome == "created" and deleted is True
    assert await count(sessionmaker, Post) == 0
    assert await count(sessionmaker, Tombstone, Tombstone.source_uri == uri) == 1
    late = await writer.submit(ingest(remote(1)))
    assert late.outcome == "deleted"


async def test_a_delete_before_its_post_in_one_group_wins(
    sessionmaker: Maker, writer: Writer
) -> None:
    uri = remote(1).source_uri
    found, result, again = await together(writer, delete(uri), ingest(remote(1)), ingest(remote(1)))

    assert found is False
    assert (result.outcome, again.outcome) == ("deleted", "deleted")
    assert await count(sessionmaker, Post) == 0
    assert await count(sessionmaker, Tombstone) == 1


async def test_a_failing_write_fails_alone_and_the_others_commit(
    sessionmaker: Maker, writer: Writer, broker: RecordingBroker
) -> None:
    async def broken(uow: UnitOfWork) -> None:
        await posts.ingest(uow, remote("broken"), base_url=BASE)
        raise RuntimeError("the write failed after its post was taken")

    results = await together(writer, ingest(remote(1)), broken, ingest(remote(2)))

    assert isinstance(results[1], RuntimeError)
    assert [results[0].outcome, results[2].outcome] == ["created", "created"]
    async with sessionmaker() as session:
        uris = set((await session.scalars(select(Post.source_uri))).all())
    assert uris == {remote(1).source_uri, remote(2).source_uri}
    assert all(broker.committed_before)
    published = {orjson.loads(f.data).get("id") for b in broker.published for f in b}
    assert str(results[0].post.id) in published and str(results[2].post.id) in published


async def test_a_later_write_of_the_group_reads_the_posts_before_it(writer: Writer) -> None:
    async def create(uow: UnitOfWork) -> posts.IngestResult:
        return await posts.ingest(uow, remote(1), base_url=BASE, post_id=777)

    async def read_back(uow: UnitOfWork) -> str | None:
        found = await posts_repo.get(uow.session, 777)
        return found.source_uri if found is not None else None

    _, seen = await together(writer, create, read_back)

    assert seen == remote(1).source_uri


async def test_a_rolled_back_savepoint_loses_none_of_the_groups_posts(
    sessionmaker: Maker, writer: Writer
) -> None:
    await local_account(writer, "taken")

    async def clash(uow: UnitOfWork) -> bool:
        clone = Account(id=12345, acct="taken", username="taken")
        return await people_repo.insert_account(uow.session, clone)

    first, stored, second = await together(
        writer,
        ingest(remote(1)),
        clash,
        ingest(remote(2, author={"acct": "bob@b.example", "source": "mastodon"})),
    )

    assert stored is False
    assert (first.outcome, second.outcome) == ("created", "created")
    assert await count(sessionmaker, Post) == 2


async def test_the_rate_limit_counts_the_groups_own_posts(
    sessionmaker: Maker, writer: Writer
) -> None:
    event = await make_event(writer, rate_limit={"posts": 2, "seconds": 600})
    await writer.submit(ingest(remote(0)))

    await together(writer, *(ingest(remote(n)) for n in range(1, 5)))

    async with sessionmaker() as session:
        states = (
            await session.scalars(
                select(EventPost.state)
                .where(EventPost.event_id == event.id)
                .order_by(EventPost.post_id)
            )
        ).all()
    assert states == ["approved", "approved", "hidden", "hidden", "hidden"]


async def test_a_reply_to_a_post_of_the_same_group_is_linked(
    sessionmaker: Maker, writer: Writer, broker: RecordingBroker
) -> None:
    parent, reply = await together(
        writer,
        ingest(remote(1)),
        ingest(remote(2, in_reply_to_uri=remote(1).source_uri)),
    )

    async with sessionmaker() as session:
        links = (await session.execute(select(Reply.parent_id, Reply.post_id))).all()
    assert links == [(parent.post.id, reply.post.id)]


async def test_deleting_posts_counts_them_down(sessionmaker: Maker, writer: Writer) -> None:
    await together(writer, *(ingest(remote(n)) for n in range(3)))

    await together(writer, delete(remote(0).source_uri), delete(remote(1).source_uri))

    async with sessionmaker() as session:
        stats = await session.scalar(select(AccountStats.statuses_count))
    assert stats == 1


async def test_a_new_local_post_under_a_taken_uri_is_refused_not_stored_twice(
    sessionmaker: Maker, writer: Writer
) -> None:
    carol = await local_account(writer, "carol")
    first = PostIn(
        source=SourceKind.LOCAL,
        source_uri=f"{BASE}/posts/1",
        author_id=carol.id,
        text=f"Hello #{TAG}",
    )
    clash = first.model_copy(update={"text": f"Hello again #{TAG}"})

    async def write(data: PostIn, post_id: int) -> posts.IngestResult:
        async def run(uow: UnitOfWork) -> posts.IngestResult:
            return await posts.ingest(uow, data, base_url=BASE, post_id=post_id)

        result: posts.IngestResult = await writer.submit(run)
        return result

    assert (await write(first, 1)).outcome == "created"
    with pytest.raises(IntegrityError):
        await write(clash, 2)
    async with sessionmaker() as session:
        texts = (await session.scalars(select(Post.content_text))).all()
    assert texts == [f"Hello #{TAG}"]
