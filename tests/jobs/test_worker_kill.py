"""A worker process killed mid-job: another worker takes the job over once the lease ends."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.jobs.models import Job, JobState
from backchannel.jobs.service import enqueue

pytestmark = pytest.mark.slow


def package_root() -> Path:
    """The directory this test imported ``backchannel`` from (``src`` when not installed)."""
    spec = importlib.util.find_spec("backchannel")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).resolve().parents[1]


WORKER_SCRIPT = textwrap.dedent(
    """
    import asyncio
    import signal
    import sys

    from backchannel.db.engine import make_engine, make_sessionmaker
    from backchannel.jobs.service import JobRegistry
    from backchannel.jobs.worker import run_worker

    registry = JobRegistry()


    @registry.job("record")
    async def record(ctx, payload):
        with open(payload["path"], "a") as log:
            log.write(f"start {ctx.attempt}\\n")
        await asyncio.sleep(3)
        with open(payload["path"], "a") as log:
            log.write("done\\n")


    async def main():
        engine = make_engine(sys.argv[1])
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        try:
            await run_worker(
                make_sessionmaker(engine),
                registry,
                stop=stop,
                concurrency=1,
                lease_seconds=2,
                poll_interval=0.2,
            )
        finally:
            await engine.dispose()


    asyncio.run(main())
    """
)


@contextmanager
def worker_process(script: Path, database_url: str) -> Iterator[subprocess.Popen[bytes]]:
    # The worker imports the same code as this test, installed or not.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(package_root()), env.get("PYTHONPATH")]))
    process = subprocess.Popen([sys.executable, str(script), database_url], env=env)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def wait_for(what: str, check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.05)


async def test_a_killed_workers_job_is_finished_once_by_another(
    database_url: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER_SCRIPT)
    log = tmp_path / "job.log"
    log.touch()
    async with sessionmaker.begin() as session:
        job = await enqueue(session, "record", {"path": str(log)})
        assert job is not None
        job_id = job.id

    def lines() -> list[str]:
        return log.read_text().splitlines()

    async def started() -> bool:
        return lines() == ["start 1"]

    async def job_done() -> bool:
        async with sessionmaker() as session:
            stored = await session.get(Job, job_id)
            return stored is not None and stored.state == JobState.DONE

    with worker_process(script, database_url) as worker_a:
        await wait_for("worker A starts the job", started)
        worker_a.send_signal(signal.SIGKILL)
        worker_a.wait(timeout=10)
    assert lines() == ["start 1"]

    with worker_process(script, database_url) as worker_b:
        await wait_for("worker B finishes the job", job_done)
        worker_b.send_signal(signal.SIGTERM)  # a graceful stop, as the CLI would
        assert worker_b.wait(timeout=30) == 0

    assert lines() == ["start 1", "start 2", "done"]
    async with sessionmaker() as session:
        stored = await session.get(Job, job_id)
    assert stored is not None
    assert (stored.state, stored.attempts, stored.locked_by) == (JobState.DONE, 2, None)
