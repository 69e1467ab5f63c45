"""SIGKILL in the middle of a long Bluesky replay, then a restart: every matching post
is stored exactly once, with its last edit, and deleted ones stay deleted.

The server runs as a real ``backchannel serve`` with a Bluesky connector pointed at a
local Jetstream server (in this test process) that replays thousands of events:
tagged posts, untagged ones, edits and deletes, with ``time_us`` going backwards now
and then as the real stream does. The process is killed with no warning while it is
storing; the restarted one resumes from its committed cursor.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from backchannel.db.engine import make_engine
from support_jetstream import JetstreamServer, delete_event, post_event
from support_process import create_user, process_env, serving, sign_in

pytestmark = pytest.mark.slow

MATCHING = 1200
#: Stream time between two events: 20 ms, so the connector's 5 s rewind is ~250 events
#: and a restart a third of the way in resumes well after the start.
STEP_US = 20_000


def replay(run: str, tag: str) -> tuple[list[dict[str, Any]], dict[str, str], set[str]]:
    """The stream, the text each kept post must end with, and the deleted at-URIs."""
    events: list[dict[str, Any]] = []
    final: dict[str, str] = {}
    deleted: set[str] = set()
    later: list[tuple[int, dict[str, Any]]] = []  # (position, event) to put in later
    t = int(time.time() * 1_000_000)
    for i in range(MATCHING):
        did = f"did:plc:{run}{i % 40:04d}"
        rkey = f"3k{run}{i:06d}"
        uri = f"at://{did}/app.bsky.feed.post/{rkey}"
        events.append(post_event(did, rkey, f"post {i} #{tag}", time_us=t, tags=[tag]))
        final[uri] = f"post {i} #{tag}"
        # An unrelated post between every two of ours.
        events.append(
            post_event(did, f"x{rkey}", f"unrelated {i} #other", time_us=t + 1, tags=["other"])
        )
        if i % 10 == 3:
            edited = f"post {i} edited #{tag}"
            later.append(
                (
                    len(events) + 60,
                    post_event(did, rkey, edited, time_us=0, tags=[tag], operation="update"),
                )
            )
            final[uri] = edited
        if i % 15 == 7:
            later.append((len(events) + 90, delete_event(did, rkey, time_us=0)))
            deleted.add(uri)
        t += STEP_US
    for position, event in sorted(later, key=lambda pair: pair[0], reverse=True):
        events.insert(min(position, len(events)), event)
    # Stream time: increasing, but every 50th event goes back 3 ms, as Jetstream's does.
    t = int(time.time() * 1_000_000)
    for n, event in enumerate(events):
        t += STEP_US
        event["time_us"] = t - (3_000 if n % 50 == 49 else 0)
    for uri in deleted:
        final.pop(uri)
    return events, final, deleted


async def stored(database_url: str, run: str) -> dict[str, str]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT source_uri, content_text FROM posts WHERE source_uri LIKE :p"),
                {"p": f"at://did:plc:{run}%"},
            )
            return {uri: body for uri, body in rows.all()}
    finally:
        await engine.dispose()


async def cursor(database_url: str) -> int:
    """The Bluesky connector's committed cursor (0 when it has none yet)."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            value = (
                await conn.execute(
                    text("SELECT value FROM connector_cursors WHERE key = 'bluesky:jetstream'")
                )
            ).scalar()
    finally:
        await engine.dispose()
    return int(value) if value and str(value).isdigit() else 0


async def test_sigkill_mid_replay_then_restart_stores_each_post_once(
    database_url: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    tag = f"crash{run}"
    events, final, deleted = replay(run, tag)
    data = tmp_path / "data"
    # The PostgreSQL test database is shared with other modules: start from no
    # connectors, cursor or lease, as a fresh install would. (A Bluesky connector left
    # by another module would start the stream before this event exists, and its
    # posts would rightly pass by unkept.)
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM connectors"))
            await conn.execute(text("DELETE FROM connector_cursors"))
            await conn.execute(text("DELETE FROM connector_leases"))
    finally:
        await engine.dispose()
    async with JetstreamServer(events) as jetstream:
        env = process_env(
            database_url=database_url,
            secret_key="crash-test",
            http_allow_private="true",
            bluesky_jetstream_urls=f'["{jetstream.url}"]',
            bluesky_api_url="http://127.0.0.1:9",  # profiles unreachable: degrade
            connectors_lease_seconds="3",
        )
        create_user(env, f"o{run}", role="organiser")

        async with serving(env, data, tmp_path / "first.log") as server:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
                token = await sign_in(client, f"o{run}")
                headers = {"Authorization": f"Bearer {token}"}
                now = time.time()
                body = {
                    "name": "Crash",
                    "primary_tag": tag,
                    "starts_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 7200)),
                    "ends_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 7200)),
                }
                response = await client.post("/api/events", json=body, headers=headers)
                assert response.status_code == 201, response.text
                slug = response.json()["slug"]
                response = await client.post(
                    f"/api/events/{slug}/connectors", json={"kind": "bluesky"}, headers=headers
                )
                assert response.status_code == 201, response.text

            # Kill it once a third of the posts are in: mid-replay, writes in flight.
            deadline = time.monotonic() + 180
            # … and once the committed cursor is past the connector's 5 s rewind, so the
            # restart can be seen to resume from it rather than from the start.
            resumable = events[0]["time_us"] + 10_000_000
            while (count := len(await stored(database_url, run))) < MATCHING // 3 or (
                await cursor(database_url)
            ) < resumable:
                assert server.popen.poll() is None, server.output()
                assert time.monotonic() < deadline, (
                    f"the connector stored {count} posts in 180 s:\n{server.output()[-3000:]}"
                )
                await asyncio.sleep(0.05)
            os.kill(server.popen.pid, signal.SIGKILL)
            server.popen.wait(timeout=10)
        at_kill = len(await stored(database_url, run))
        assert at_kill < len(final) + len(deleted), "the replay was over before the kill"
        subscriptions_before = len(jetstream.subscriptions)

        async with serving(env, data, tmp_path / "second.log") as server:
            deadline = time.monotonic() + 180
            while (now_stored := await stored(database_url, run)) != final:
                assert server.popen.poll() is None, server.output()
                if time.monotonic() > deadline:
                    missing = set(final) - set(now_stored)
                    extra = set(now_stored) - set(final)
                    stale = [u for u in final if u in now_stored and now_stored[u] != final[u]]
                    raise AssertionError(
                        f"after the restart: {len(missing)} missing, {len(extra)} that should "
                        f"be deleted, {len(stale)} without their edit\n" + server.output()[-3000:]
                    )
                await asyncio.sleep(0.2)

        # The restart resumed from the committed cursor, not from the beginning.
        resumed = jetstream.subscriptions[subscriptions_before:]
        assert (
            resumed and resumed[0].cursor is not None and resumed[0].cursor > events[0]["time_us"]
        )
    # Exactly once: one row per at-URI, each in the event once.
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            counts = (
                await conn.execute(
                    text(
                        "SELECT count(*), count(DISTINCT p.source_uri), count(ep.post_id) "
                        "FROM posts p LEFT JOIN event_posts ep ON ep.post_id = p.id "
                        "WHERE p.source_uri LIKE :p"
                    ),
                    {"p": f"at://did:plc:{run}%"},
                )
            ).one()
            tombstoned = (
                await conn.execute(
                    text("SELECT count(*) FROM tombstones WHERE source_uri LIKE :p"),
                    {"p": f"at://did:plc:{run}%"},
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert tuple(counts) == (len(final), len(final), len(final))
    assert tombstoned == len(deleted)
