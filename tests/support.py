"""Test harness shared by every test module (importable as ``support``)."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any


class LiveServer:
    """A real uvicorn server on 127.0.0.1 running ``create_app`` (one per module)."""

    def __init__(self, app: Any, base_url: str) -> None:
        self.app = app
        self.base_url = base_url

    @property
    def services(self) -> Any:
        return self.app.state.services

    async def user(self, name: str, role: str = "attendee") -> str:
        """Create a local account and return a bearer token for it."""
        from backchannel.people import service as people

        async def write(uow: Any) -> str:
            account = await people.create_local_account(
                uow.session, name, "correct-horse-battery", role
            )
            return await people.issue_token(uow.session, account)

        token: str = await self.services.writer.submit(write)
        return token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serve_app(settings: Any) -> AsyncIterator[LiveServer]:
    import uvicorn

    from backchannel.app import create_app

    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=settings.port,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + 20
    while not server.started:
        if task.done():
            task.result()
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the test server did not start")
        await asyncio.sleep(0.02)
    try:
        yield LiveServer(app, f"http://127.0.0.1:{settings.port}")
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


def test_settings(tmp_path: Path, database_url: str, redis_url: str = "", **extra: Any) -> Any:
    from backchannel.config import Settings

    port = free_port()
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=f"bctest{os.getpid()}",
        port=port,
        base_url=f"http://127.0.0.1:{port}",
        secret_key="test-secret",
        sse_heartbeat_seconds=extra.pop("sse_heartbeat_seconds", 1.0),
        # The connectors' supervisor reads and writes every few seconds; a live server
        # shared by a module's tests would race the truncation between them. Tests
        # of connectors in a live server turn it on.
        run_connectors=extra.pop("run_connectors", False),
        **extra,
    )
