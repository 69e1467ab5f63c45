"""Process-level harness: ``backchannel`` commands as real subprocesses, and an SSE reader.

Every process started here is killed in a ``finally``; its output goes to a log file
(never a pipe nobody reads), and that log is quoted when the process misbehaves.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from support import free_port

PASSWORD = "correct-horse-battery"


def package_root() -> Path:
    """The directory this test imported ``backchannel`` from (``src`` when not installed)."""
    spec = importlib.util.find_spec("backchannel")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).resolve().parents[1]


def process_env(*, this_code: bool = True, **settings: str | Path) -> dict[str, str]:
    """This environment without any ``BACKCHANNEL_*`` setting, plus ``settings``
    (``database_url="…"`` becomes ``BACKCHANNEL_DATABASE_URL``).

    ``this_code`` makes the process import the same ``backchannel`` as this test;
    without it (an installed copy is meant) no ``PYTHONPATH`` or venv leaks in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BACKCHANNEL_") or k.startswith("BACKCHANNEL_TEST_")
    }
    if this_code:
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(package_root()), env.get("PYTHONPATH")])
        )
    else:
        for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
            env.pop(name, None)
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    for name, value in settings.items():
        env[f"BACKCHANNEL_{name.upper()}"] = str(value)
    return env


def backchannel(*args: str | Path, python: str | Path = sys.executable) -> list[str]:
    return [str(python), "-m", "backchannel", *map(str, args)]


def run_cli(
    args: Sequence[str | Path],
    env: dict[str, str],
    stdin: str = "",
    timeout: float = 120,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one command to its end, password (or anything) on stdin."""
    return subprocess.run(
        list(map(str, args)),
        input=stdin,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def create_user(env: dict[str, str], name: str, role: str = "attendee") -> None:
    done = run_cli(backchannel("create-user", name, "--role", role), env, stdin=PASSWORD + "\n")
    assert done.returncode == 0, f"create-user failed:\n{done.stdout}\n{done.stderr}"


@dataclass
class Process:
    """A running ``backchannel`` process and the file its output goes to."""

    popen: subprocess.Popen[bytes]
    log: Path
    port: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no flush, nothing."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then SIGKILL if it does not end in time."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        return self.popen.returncode


@contextmanager
def started(
    args: Sequence[str | Path],
    env: dict[str, str],
    log: Path,
    port: int = 0,
    cwd: Path | None = None,
) -> Iterator[Process]:
    """Start a process; whatever happens, it is dead when the block ends."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        popen = subprocess.Popen(
            list(map(str, args)),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process = Process(popen, log, port)
    try:
        yield process
    finally:
        if popen.poll() is None:
            popen.kill()
        popen.wait(timeout=10)


async def wait_healthy(process: Process, timeout: float = 60) -> None:
    """Poll ``/api/health`` until it answers 200, the process dies, or the deadline."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=process.base_url, timeout=2) as client:
        while True:
            if process.popen.poll() is not None:
                raise AssertionError(
                    f"the server exited with {process.popen.returncode}:\n{process.output()}"
                )
            try:
                if (await client.get("/api/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"no healthy server within {timeout} s:\n{process.output()}")
            await asyncio.sleep(0.1)


@asynccontextmanager
async def serving(
    env: dict[str, str], data_dir: Path, log: Path, port: int | None = None
) -> AsyncIterator[Process]:
    """``backchannel serve`` on a free port, healthy when the block starts."""
    port = port or free_port()
    args = backchannel("serve", "--port", str(port), "--data-dir", data_dir)
    with started(args, env, log, port) as process:
        await wait_healthy(process)
        yield process


async def sign_in(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/auth/token", json={"username": name, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


# --- Server-Sent Events ----------------------------------------------------------


@dataclass(frozen=True)
class SseEvent:
    id: str | None
    event: str
    data: str

    def json(self) -> Any:
        import json

        return json.loads(self.data)


class SseParser:
    """The parsing half of the SSE spec that our streams use: ``id``, ``event``,
    ``data`` (multi-line joined), comments ignored, a blank line dispatches."""

    def __init__(self) -> None:
        self._buffer = ""
        self._id: str | None = None
        self._event = ""
        self._data: list[str] = []

    def feed(self, text: str) -> list[SseEvent]:
        self._buffer += text.replace("\r\n", "\n").replace("\r", "\n")
        events: list[SseEvent] = []
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            if line == "":
                if self._data:
                    events.append(
                        SseEvent(self._id, self._event or "message", "\n".join(self._data))
                    )
                self._event, self._data = "", []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                self._id = value
            elif name == "event":
                self._event = value
            elif name == "data":
                self._data.append(value)
        return events


class SseClient:
    """Reads one stream in the background; events land in ``events`` as they come."""

    def __init__(self, base_url: str, path: str, last_event_id: str | None = None) -> None:
        self.base_url = base_url
        self.path = path
        self.last_event_id = last_event_id
        self.events: list[SseEvent] = []
        self.opened = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None

    async def __aenter__(self) -> SseClient:
        self._task = asyncio.create_task(self._read())
        await asyncio.wait_for(self._wait_open(), 20)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _wait_open(self) -> None:
        while not self.opened.is_set():
            if self._task is not None and self._task.done():
                self._task.result()
                raise AssertionError("the stream ended before it opened")
            await asyncio.sleep(0.02)

    async def _read(self) -> None:
        headers = {"Accept": "text/event-stream"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = self.last_event_id
        parser = SseParser()
        timeout = httpx.Timeout(10, read=None)
        try:
            async with (
                httpx.AsyncClient(base_url=self.base_url, timeout=timeout) as client,
                client.stream("GET", self.path, headers=headers) as response,
            ):
                assert response.status_code == 200, (await response.aread()).decode()
                async for chunk in response.aiter_text():
                    self.opened.set()
                    for event in parser.feed(chunk):
                        self.events.append(event)
                        if event.id is not None:
                            self.last_event_id = event.id
                    self._changed.set()
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self._changed.set()

    async def close(self) -> None:
        """Drop the connection (the client going away)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def wait_for(self, what: str, check: Any, timeout: float = 10) -> list[SseEvent]:
        """Wait until ``check(events)`` is true; return the events."""
        deadline = time.monotonic() + timeout
        while not check(self.events):
            if self._task is not None and self._task.done():
                raise AssertionError(f"{what}: the stream ended ({self.error!r}): {self.events}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{what}: not within {timeout} s; got {self.events}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass
        return self.events
