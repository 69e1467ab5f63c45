"""The loop a ``backchannel worker`` process runs: a job runner until told to stop.

It installs nothing global (no signal handlers, no logging setup): the CLI owns the
process, sets ``stop`` from its signal handlers and builds the sessionmaker.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.jobs.runner import JobRunner
from backchannel.jobs.service import JobRegistry


async def run_worker(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: JobRegistry,
    *,
    stop: asyncio.Event,
    concurrency: int,
    lease_seconds: float = 60,
    poll_interval: float = 1.0,
    worker_id: str | None = None,
    extra: dict[str, Any] | None = None,
    stop_timeout: float = 30.0,
) -> None:
    """Run jobs until ``stop`` is set, then stop gracefully (see ``JobRunner.stop``)."""
    runner = JobRunner(
        sessionmaker,
        registry,
        worker_id=worker_id,
        concurrency=concurrency,
        lease_seconds=lease_seconds,
        poll_interval=poll_interval,
        extra=extra,
    )
    await runner.start()
    try:
        await stop.wait()
    finally:
        await runner.stop(timeout=stop_timeout)
