"""Harness for connector tests: a runtime context on the test database (a real
writer and broker, the guarded HTTP client allowed onto 127.0.0.1), and events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.broker import make_broker
from backchannel.config import Settings
from backchannel.connectors.base import CursorStore, RuntimeContext
from backchannel.db.writer import UnitOfWork, Writer
from backchannel.events import service as events
from backchannel.events.models import Event
from backchannel.events.schemas import EventCreate
from backchannel.kit.clock import utcnow
from backchannel.kit.http import make_client
from backchannel.people import repository as people_repo
from backchannel.people import service as people
from backchannel.posts.models import Post

FIXTURES = Path(__file__).parent / "data"


@asynccontextmanager
async def runtime_context(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, **settings: Any
) -> AsyncIterator[RuntimeContext]:
    config = Settings(
        data_dir=tmp_path,
        base_url="http://backchannel.test",
        secret_key="test-secret",
        http_allow_private=True,
        **settings,
    )
    broker = make_broker("", "bctest")

    async def drop(frames: Any) -> None:
        return None

    await broker.start(drop)
    writer = Writer(sessionmaker, broker)
    await writer.start()
    http = make_client(public_url=config.public_url(), allow_private=True)
    try:
        yield RuntimeContext(config, sessionmaker, writer, http, CursorStore(sessionmaker, writer))
    finally:
        await http.aclose()
        await writer.stop()
        await broker.stop()


async def make_event(
    writer: Writer, tag: str, aliases: list[str] | None = None, *, owner: str = "organiser"
) -> Event:
    """An event with ``tag`` (and ``aliases``) running now, owned by a new organiser."""

    async def write(uow: UnitOfWork) -> Event:
        account = await people_repo.get_local_by_username(uow.session, owner)
        if account is None:
            account = await people.create_local_account(
                uow.session, owner, "correct-horse-battery", "organiser"
            )
        now = utcnow()
        data = EventCreate(
            name=f"Event {tag}",
            primary_tag=tag,
            aliases=aliases or [],
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(days=1),
        )
        return await events.create_event(uow.session, data, account)

    event: Event = await writer.submit(write)
    return event


async def count_posts(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Post)) or 0)


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, what: str = ""
) -> None:
    """Wait for ``condition`` (a plain or an async check) up to a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or 'a condition'}")
        await asyncio.sleep(0.02)
