#!/usr/bin/env python
"""Ingest in one process: CPU (or, under callgrind, instructions) per post.

``bench/ingest.py`` measures throughput against a raw baseline, but on this machine
the same cell moves by 10-20 % from run to run, too much to judge a change of a few
per cent. This drives the same path in-process, with no sockets: ``POST /api/posts``
requests (bearer token, JSON body) straight into the application (the hot path of
``posts.hot_write``) from W concurrent writers on a fresh SQLite database, and counts
what the measured window costs:

    python bench/ingest_profile.py                        # CPU µs per post
    python bench/ingest_profile.py --callgrind            # instructions per post
    python bench/ingest_profile.py --posts 300 --writers 1 --callgrind

Under ``--callgrind`` the script runs itself under ``valgrind --tool=callgrind`` with
instrumentation switched on only for the measured posts (not the imports, the model
load or the warm-up): the count is the same from run to run to well under 1 %, whatever
else the machine does. The profile is kept (``--keep``) for ``callgrind_annotate``.
Not part of CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import PASSWORD, create_user, server_env

TEXT = (
    "Writer {w} post {k}: the keynote on open conference tooling was great, "
    "slides and notes are coming soon #{tag}"
)
TAG = "profiletag"


def _instrument(on: bool) -> None:
    """Switch callgrind's instrumentation of this process (no-op outside valgrind)."""
    if os.environ.get("BC_PROFILE_CALLGRIND"):
        subprocess.run(
            ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
            capture_output=True,
            check=False,
        )


async def _drive(data_dir: Path, posts: int, writers: int) -> dict[str, Any]:
    import httpx
    import orjson

    from backchannel.app import create_app
    from backchannel.config import Settings

    app = create_app(Settings(data_dir=data_dir, run_connectors=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            login = {"username": "writer", "password": PASSWORD}
            token = (await http.post("/api/auth/token", json=login)).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            event = {
                "name": "Profile",
                "slug": TAG,
                "primary_tag": TAG,
                "starts_at": "2020-01-01T00:00:00Z",
                "ends_at": "2099-01-01T00:00:00Z",
            }
            (await http.post("/api/events", headers=auth, json=event)).raise_for_status()
        headers = [
            (b"host", b"bench"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
        ]

        async def one(w: int, k: int) -> None:
            body = orjson.dumps({"status": TEXT.format(w=w, k=k, tag=TAG)})
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": "/api/posts",
                "raw_path": b"/api/posts",
                "query_string": b"",
                "root_path": "",
                "headers": [*headers, (b"content-length", str(len(body)).encode())],
                "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 80),
            }
            messages = [{"type": "http.request", "body": body, "more_body": False}]
            status: list[int] = []

            async def receive() -> dict[str, Any]:
                if messages:
                    return messages.pop()
                await asyncio.Event().wait()  # the client stays connected
                raise AssertionError("unreachable")

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status.append(message["status"])

            await app(scope, receive, send)
            if status != [201]:
                raise RuntimeError(f"POST /api/posts answered {status}")

        async def run(count: int) -> None:
            async def writer(w: int) -> None:
                for k in range(count // writers):
                    await one(w, k)

            await asyncio.gather(*(writer(w) for w in range(writers)))

        await run(writers * 8)  # warm: caches, compiled statements, the model
        from backchannel.kit.gc_tuning import tune_for_server

        tune_for_server()  # as `serve` does once started
        _instrument(True)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await run(posts)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        _instrument(False)
    done = posts // writers * writers
    return {
        "posts": done,
        "writers": writers,
        "cpu_us_per_post": round(cpu / done * 1e6, 1),
        "posts_per_s": round(done / wall, 1),
    }


def _run(coro: Any) -> Any:
    """On uvloop, as ``serve`` runs."""
    import uvloop

    return uvloop.run(coro)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=1280)
    parser.add_argument("--writers", type=int, default=64)
    parser.add_argument("--callgrind", action="store_true", help="count instructions")
    parser.add_argument("--keep", type=Path, help="where to keep the callgrind profile")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bc-ingest-profile-"))
    try:
        data_dir = tmp / "data"
        env = server_env(data_dir)
        create_user(data_dir, "writer", "organiser", env)
        if not args.callgrind:
            os.environ.update(env)
            result = _run(_drive(data_dir, args.posts, args.writers))
            print(json.dumps(result))
            return 0
        out = args.keep or tmp / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--posts",
            str(args.posts),
            "--writers",
            str(args.writers),
            "--inner",
            str(data_dir),
        ]
        run = subprocess.run(
            command,
            env={**env, "BC_PROFILE_CALLGRIND": "1"},
            capture_output=True,
            text=True,
            check=True,
        )
        found = re.search(r"Collected : (\d+)", run.stderr)
        if found is None:
            print(run.stderr[-2000:], file=sys.stderr)
            return 1
        posts = args.posts // args.writers * args.writers
        instructions = int(found.group(1))
        print(
            json.dumps(
                {
                    "posts": posts,
                    "writers": args.writers,
                    "instructions": instructions,
                    "instructions_per_post": instructions // posts,
                    "profile": str(out) if args.keep else None,
                }
            )
        )
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _inner(argv: list[str]) -> int:
    """The measured process (under valgrind): a data directory made by ``main``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int)
    parser.add_argument("--writers", type=int)
    parser.add_argument("--inner", type=Path)
    args = parser.parse_args(argv)
    _run(_drive(args.inner, args.posts, args.writers))
    return 0


if __name__ == "__main__":
    sys.exit(_inner(sys.argv[1:]) if "--inner" in sys.argv else main())
