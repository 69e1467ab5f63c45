"""The supervisor: folds per-event connectors into runtimes, keeps them running,
reports their health, and lets only one process of several run them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.connectors import service
from backchannel.connectors.base import Runtime, RuntimeContext, Spec
from backchannel.connectors.models import Connector, ConnectorStatus
from backchannel.connectors.schemas import BlueskyIn, FeedIn, MastodonIn
from backchannel.connectors.supervisor import Supervisor
from backchannel.db.writer import UnitOfWork
from backchannel.events.models import Event
from backchannel.kit.clock import utcnow
from support_connectors import eventually as until
from support_connectors import make_event, runtime_context


class FakeRuntime(Runtime):
    """Records what it was asked to do; fails on demand."""

    started: list[str] = []
    fail_first: set[str] = set()

    def __init__(self, ctx: RuntimeContext, spec: Spec) -> None:
        super().__init__(ctx, spec)
        self.configured: list[Spec] = []

    def configure(self, spec: Spec) -> None:
        super().configure(spec)
        self.configured.append(spec)

    async def run(self) -> None:
        FakeRuntime.started.append(self.spec.key)
        if self.spec.key in FakeRuntime.fail_first:
            FakeRuntime.fail_first.discard(self.spec.key)
            raise RuntimeError("remote went away")
        self.health.ok(ConnectorStatus.CONNECTED)
        self.health.counts["kept"] += 3
        await asyncio.Event().wait()


FACTORIES = {kind: FakeRuntime for kind in ("bluesky", "mastodon", "feed")}


async def add(ctx: RuntimeContext, event: Event, data: BlueskyIn | MastodonIn | FeedIn) -> int:
    async def write(uow: UnitOfWork) -> int:
        return (await service.create(uow.session, event, data)).id

    result: int = await ctx.writer.submit(write)
    return result


async def connectors(sm: async_sessionmaker[AsyncSession]) -> dict[int, Connector]:
    async with sm() as session:
        return {c.id: c for c in (await session.scalars(select(Connector))).all()}


@pytest.fixture(autouse=True)
def _reset() -> None:
    FakeRuntime.started = []
    FakeRuntime.fail_first = set()


async def test_specs_fold_connectors_into_one_runtime_per_source(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    async with runtime_context(sessionmaker, tmp_path) as ctx:
        a = await make_event(ctx.writer, "alphaconf", ["alpha26"])
        b = await make_event(ctx.writer, "betacamp")
        await add(ctx, a, BlueskyIn(kind="bluesky"))
        await add(ctx, b, BlueskyIn(kind="bluesky"))
        await add(ctx, a, MastodonIn(kind="mastodon", server="Mastodon.Example/@x", token="t"))
        await add(ctx, b, MastodonIn(kind="mastodon", server="https://mastodon.example"))
        await add(ctx, a, FeedIn(kind="feed", url="https://blog.example/feed.xml"))
        await add(
            ctx,
            b,
            FeedIn(kind="feed", url="https://blog.example/feed.xml", match="tagged"),
        )
        await add(ctx, b, MastodonIn(kind="mastodon", server="https://off.example", enabled=False))
        async with sessionmaker() as session:
            specs = {s.key: s for s in await service.desired_specs(session, ctx.settings, utcnow())}
    assert set(specs) == {
        "bluesky",
        "mastodon:https://mastodon.example",
        "feed:https://blog.example/feed.xml",
    }
    assert specs["bluesky"].tags == {"alphaconf", "alpha26", "betacamp"}
    assert len(specs["bluesky"].connector_ids) == 2
    masto = specs["mastodon:https://mastodon.example"]
    assert masto.options["token"] == "t"
    feed = specs["feed:https://blog.example/feed.xml"]
    assert feed.options["event_ids"] == [a.id]  # only where every entry counts
    assert feed.tags == {"alphaconf", "alpha26", "betacamp"}


async def test_runs_reports_health_restarts_and_stops(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    async with runtime_context(sessionmaker, tmp_path) as ctx:
        event = await make_event(ctx.writer, "gammafest")
        first = await add(ctx, event, BlueskyIn(kind="bluesky"))
        FakeRuntime.fail_first = {"bluesky"}
        supervisor = Supervisor(ctx, FACTORIES, holder="one", interval=0.1)
        await supervisor.start()
        try:

            async def healthy() -> bool:
                row = (await connectors(sessionmaker))[first]
                return row.status == "connected" and row.counts.get("kept") == 3

            await until(healthy)
            # It failed once and was started again.
            assert FakeRuntime.started == ["bluesky", "bluesky"]
            row = (await connectors(sessionmaker))[first]
            assert "remote went away" in row.last_error

            # A new event's connector joins the running runtime: its tags, no restart.
            other = await make_event(ctx.writer, "deltacon")
            second = await add(ctx, other, BlueskyIn(kind="bluesky"))
            supervisor.wake()
            runtime = supervisor.runtimes["bluesky"]

            async def configured() -> bool:
                return "deltacon" in runtime.spec.tags

            await until(configured)
            assert FakeRuntime.started == ["bluesky", "bluesky"]

            async def both_healthy() -> bool:
                return (await connectors(sessionmaker))[second].status == "connected"

            await until(both_healthy)

            # Switched off: the runtime stops and the connector says so.
            async def switch_off(uow: UnitOfWork) -> None:
                for row in (await uow.session.scalars(select(Connector))).all():
                    row.enabled = False

            await ctx.writer.submit(switch_off)
            supervisor.wake()

            async def stopped() -> bool:
                rows = await connectors(sessionmaker)
                return not supervisor.runtimes and all(
                    r.status == ConnectorStatus.STOPPED for r in rows.values()
                )

            await until(stopped)
        finally:
            await supervisor.stop()


async def test_one_process_of_two_runs_the_connectors_and_the_other_takes_over(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    async with runtime_context(sessionmaker, tmp_path) as ctx:
        event = await make_event(ctx.writer, "epsilonday")
        await add(ctx, event, BlueskyIn(kind="bluesky"))
        one = Supervisor(ctx, FACTORIES, holder="one", interval=0.1, lease_seconds=0.6)
        two = Supervisor(ctx, FACTORIES, holder="two", interval=0.1, lease_seconds=0.6)
        await one.start()

        async def one_runs() -> bool:
            return "bluesky" in one.runtimes

        await until(one_runs)
        await two.start()
        try:
            await asyncio.sleep(1.0)  # several passes of both, and a lease period
            assert one.holds_lease and "bluesky" in one.runtimes
            assert not two.holds_lease and not two.runtimes
            await one.stop()  # releases the lease

            async def two_runs() -> bool:
                return "bluesky" in two.runtimes

            await until(two_runs)
        finally:
            await two.stop()
            await one.stop()
