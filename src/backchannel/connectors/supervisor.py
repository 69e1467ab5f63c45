"""Keeps the connectors' runtimes running in one process of several.

Every few seconds (and at once when woken after a change) the supervisor renews its
lease, folds the enabled connectors into specs, starts the runtimes that are missing,
reconfigures the ones whose spec changed, stops the ones no longer wanted, and writes
each runtime's health to its connectors. A runtime that raises is restarted with a
growing delay. Without the lease (another process runs the connectors) it runs none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from backchannel.connectors import repository as repo
from backchannel.connectors import service
from backchannel.connectors.base import Runtime, RuntimeContext, Spec
from backchannel.connectors.models import ConnectorStatus
from backchannel.db.writer import UnitOfWork
from backchannel.kit.clock import utcnow
from backchannel.kit.tasks import cancel_and_wait

log = logging.getLogger(__name__)

LEASE = "connectors"
RuntimeFactory = Callable[[RuntimeContext, Spec], Runtime]


def wake_after_commit(uow: UnitOfWork, extra: Mapping[str, Any]) -> None:
    """After ``uow`` commits, ask this process's supervisor (if it runs one) to
    reconcile now rather than at its next pass: a connector was added or changed."""
    wake = getattr(extra.get("connectors"), "wake", None)
    if callable(wake):
        uow.after_commit.append(wake)


def restart_delay(failures: int) -> float:
    """Seconds before restarting a runtime after its ``failures``-th failure in a
    row: 1 s doubling up to 5 minutes, with jitter so runtimes do not move in step."""
    base: float = min(300.0, 2.0 ** min(failures - 1, 9))
    return base / 2 + random.random() * base / 2  # noqa: S311 - jitter, not secrecy


class _Running:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.task: asyncio.Task[None] | None = None
        self.last_health: dict[str, Any] | None = None


class Supervisor:
    def __init__(
        self,
        ctx: RuntimeContext,
        factories: Mapping[str, RuntimeFactory],
        *,
        holder: str,
        interval: float = 3.0,
        lease_seconds: float = 20.0,
    ) -> None:
        self._ctx = ctx
        self._factories = factories
        self._holder = holder
        # Renew well before the lease runs out.
        self._interval = min(interval, lease_seconds / 3)
        self._lease_seconds = lease_seconds
        self._running: dict[str, _Running] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.holds_lease = False

    @property
    def runtimes(self) -> dict[str, Runtime]:
        return {key: running.runtime for key, running in self._running.items()}

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="connectors")

    def wake(self) -> None:
        """Reconcile now (a connector was added, changed or removed)."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is None:
            return
        await cancel_and_wait(self._task)
        self._task = None
        await self._stop_all()
        with contextlib.suppress(Exception):
            await self._flush_health(final=True)
        if self.holds_lease:
            with contextlib.suppress(Exception):
                async with self._ctx.sessionmaker() as session, session.begin():
                    await repo.release_lease(session, LEASE, self._holder)
            self.holds_lease = False

    async def _loop(self) -> None:
        while True:
            try:
                await self._pass()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database may be away for a moment; the runtimes keep running.
                log.exception("connector supervisor pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()

    async def _pass(self) -> None:
        now = utcnow()
        async with self._ctx.sessionmaker() as session, session.begin():
            held = await repo.claim_lease(
                session, LEASE, self._holder, now, now + timedelta(seconds=self._lease_seconds)
            )
            specs = await service.desired_specs(session, self._ctx.settings, now) if held else []
        if not held:
            if self.holds_lease:
                log.warning("lost the connectors lease; stopping the runtimes here")
            self.holds_lease = False
            await self._stop_all()
            return
        self.holds_lease = True
        await self._reconcile(specs)
        await self._flush_health()

    async def _reconcile(self, specs: list[Spec]) -> None:
        wanted = {spec.key: spec for spec in specs if spec.kind in self._factories}
        for key in list(self._running):
            if key not in wanted:
                await self._stop(key)
        for key, spec in wanted.items():
            running = self._running.get(key)
            if running is None:
                runtime = self._factories[spec.kind](self._ctx, spec)
                running = self._running[key] = _Running(runtime)
                running.task = asyncio.create_task(self._keep_running(runtime), name=key)
            elif running.runtime.spec != spec:
                running.runtime.configure(spec)
                running.last_health = None  # the connector set may have changed

    async def _keep_running(self, runtime: Runtime) -> None:
        failures = 0
        while True:
            started = asyncio.get_running_loop().time()
            try:
                await runtime.run()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if asyncio.get_running_loop().time() - started > 600:
                    failures = 0  # it ran well for a while: start the delays over
                failures += 1
                log.exception("connector %s failed", runtime.spec.key)
                runtime.health.error(f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(restart_delay(max(failures, 1)))

    async def _stop(self, key: str) -> None:
        running = self._running.pop(key)
        if running.task is not None:
            running.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running.task

    async def _stop_all(self) -> None:
        for key in list(self._running):
            await self._stop(key)

    async def _flush_health(self, *, final: bool = False) -> None:
        """Write each runtime's health to its connectors when it changed, and mark
        connectors that no runtime serves as stopped."""
        now = utcnow()
        async with self._ctx.sessionmaker() as session, session.begin():
            served: list[int] = []
            for running in self._running.values():
                ids = running.runtime.spec.connector_ids
                served.extend(ids)
                health = running.runtime.health.snapshot()
                if final:
                    health["status"] = ConnectorStatus.STOPPED.value
                if health == running.last_health:
                    continue
                running.last_health = health
                await repo.write_health(session, ids, {**health, "health_at": now})
            if not final:
                await repo.stop_others(session, served, ConnectorStatus.STOPPED.value, now)
