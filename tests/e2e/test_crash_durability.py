"""A post acknowledged with 2xx survives SIGKILL of the server right after the answer.

The server runs as a real ``backchannel serve`` process; posts are made with many in
flight (so the writer commits them in groups), and the moment one of them has its 201
the process is killed — no shutdown, no flush. After a restart every acknowledged post
is there, by id and on its hashtag's timeline.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import httpx
import pytest

from support_process import create_user, process_env, serving, sign_in

pytestmark = pytest.mark.slow

IN_FLIGHT = 20
WARM_UP = 30  # acknowledged posts before the kill, so it lands mid-stream


async def test_an_acknowledged_post_survives_sigkill(database_url: str, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    tag = f"crash{run}"
    user = f"crash{run}"
    data = tmp_path / "data"
    env = process_env(database_url=database_url, secret_key="crash-test")
    create_user(env, user)

    acknowledged: dict[str, str] = {}  # id -> text
    failed = 0
    killed = asyncio.Event()

    async with serving(env, data, tmp_path / "first.log") as server:
        limits = httpx.Limits(max_connections=IN_FLIGHT * 2)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30, limits=limits) as client:
            token = await sign_in(client, user)
            headers = {"Authorization": f"Bearer {token}"}

            async def poster(worker: int) -> None:
                nonlocal failed
                n = 0
                while not killed.is_set():
                    text = f"post {worker}-{n} #{tag}"
                    n += 1
                    try:
                        response = await client.post(
                            "/api/posts", json={"status": text}, headers=headers
                        )
                    except httpx.TransportError:
                        failed += 1
                        return
                    if response.is_success:
                        acknowledged[response.json()["id"]] = text
                        if len(acknowledged) >= WARM_UP and not killed.is_set():
                            # Kill at once, inside this post's response handling.
                            os.kill(server.popen.pid, signal.SIGKILL)
                            killed.set()
                    else:
                        failed += 1
                        assert response.status_code >= 500, response.text
                        return

            await asyncio.wait_for(asyncio.gather(*(poster(i) for i in range(IN_FLIGHT))), 60)
        server.popen.wait(timeout=10)
        assert server.popen.returncode == -signal.SIGKILL

    assert killed.is_set()
    assert len(acknowledged) >= WARM_UP
    assert failed > 0, "no post was in flight when the server was killed"

    async with (
        serving(env, data, tmp_path / "second.log") as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=10) as client,
    ):
        for post_id, text in acknowledged.items():
            response = await client.get(f"/api/posts/{post_id}")
            assert response.status_code == 200, f"post {post_id} lost: {response.text}"
            assert response.json()["text"] == text
        on_timeline: set[str] = set()
        max_id: str | None = None
        while True:
            params = {"limit": "200", **({"max_id": max_id} if max_id else {})}
            page = (await client.get(f"/api/tags/{tag}/timeline", params=params)).json()
            if not page:
                break
            on_timeline.update(p["id"] for p in page)
            max_id = page[-1]["id"]
        missing = set(acknowledged) - on_timeline
        assert not missing, f"{len(missing)} acknowledged posts not on #{tag}"
        # A fresh post works after the crash, too.
        token = await sign_in(client, user)
        response = await client.post(
            "/api/posts",
            json={"status": f"after the crash #{tag}"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.text
