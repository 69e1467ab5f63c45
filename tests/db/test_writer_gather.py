"""A write group waits briefly for the writes announced as on their way
(``Writer.arriving``), and never when none is."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.broker.base import FrameSink
from backchannel.db.writer import UnitOfWork, Writer
from backchannel.streams.frames import Frame

Maker = async_sessionmaker[AsyncSession]


class NoBroker:
    async def start(self, sink: FrameSink) -> None:
        return None

    async def publish(self, frames: list[Frame]) -> None:
        return None

    async def stop(self) -> None:
        return None


@pytest.fixture
async def writer(sessionmaker: Maker) -> AsyncIterator[Writer]:
    # A long limit: a test that waits for it would show.
    writer = Writer(sessionmaker, NoBroker(), gather_seconds=2.0)
    await writer.start()
    yield writer
    await writer.stop()


def group_of(groups: list[int]) -> Any:
    """A write that records which group (by its shared dict) it ran in."""

    async def write(uow: UnitOfWork) -> int:
        groups.append(id(uow.shared))
        return id(uow.shared)

    return write


async def test_a_group_takes_along_a_write_announced_before_it_started(writer: Writer) -> None:
    groups: list[int] = []
    arrival = writer.arriving()
    first = asyncio.ensure_future(writer.submit(group_of(groups)))
    await asyncio.sleep(0.05)  # the group has started and is waiting
    assert not first.done()
    second = await writer.submit(group_of(groups), arrival)
    assert await first == second
    assert writer.arriving_now == 0


async def test_without_announced_writes_a_group_starts_at_once(writer: Writer) -> None:
    start = time.monotonic()
    await writer.submit(group_of([]))
    assert time.monotonic() - start < 1.0


async def test_an_announced_write_that_never_comes_holds_a_group_no_longer_than_the_limit(
    sessionmaker: Maker,
) -> None:
    writer = Writer(sessionmaker, NoBroker(), gather_seconds=0.2)
    await writer.start()
    try:
        arrival = writer.arriving()
        start = time.monotonic()
        await writer.submit(group_of([]))
        waited = time.monotonic() - start
        assert 0.15 < waited < 1.5, waited
        arrival.close()
        arrival.close()  # closing twice counts once
        assert writer.arriving_now == 0
        start = time.monotonic()
        await writer.submit(group_of([]))
        assert time.monotonic() - start < 0.15
    finally:
        await writer.stop()


async def test_a_write_given_up_releases_the_waiting_group(writer: Writer) -> None:
    arrival = writer.arriving()
    submitted = asyncio.ensure_future(writer.submit(group_of([])))
    await asyncio.sleep(0.05)
    assert not submitted.done()
    start = time.monotonic()
    arrival.close()  # the request was refused: no write will come
    await submitted
    assert time.monotonic() - start < 1.0
