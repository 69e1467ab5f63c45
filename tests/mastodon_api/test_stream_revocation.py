"""A revoked token, or a suspended account, ends its open Mastodon streams: SSE ends
the response, the WebSocket closes with 4001. Other people's streams stay open.

A revoke in the serving process ends them at once; a suspension written by another
process (``backchannel suspend``) within one round of the token watch."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import websockets
from sqlalchemy import delete, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backchannel.db.engine import make_sessionmaker
from backchannel.mastodon_api import repository as masto_repo
from backchannel.mastodon_api.token_watch import TokenWatch, token_watch
from backchannel.mastodon_api.tokens import issue_user_token
from backchannel.people import service as people
from backchannel.people.models import ApiToken
from support import LiveServer
from support_mastodon import PASSWORD, client, off_loop, user_token
from support_sse import SSEClient, auth, poll

TAG = "dk2018"


async def app_with_token(server: LiveServer, http: httpx.AsyncClient, name: str) -> dict[str, str]:
    """An app registered through the API and a user's token issued to it (what the
    code flow ends with): client_id, client_secret and token, ready to revoke."""
    response = await http.post(
        "/api/v1/apps",
        data={"client_name": "wall", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"},
    )
    assert response.status_code == 200, response.text
    registered = response.json()

    async def write(uow: Any) -> str:
        app = await masto_repo.app_by_client_id(uow.session, registered["client_id"])
        assert app is not None
        account = await people.create_local_account(uow.session, name, PASSWORD, "attendee")
        await uow.session.flush()
        return await issue_user_token(uow.session, account.id, "read write", "wall", app_id=app.id)

    token: str = await server.services.writer.submit(write)
    return {
        "client_id": registered["client_id"],
        "client_secret": registered["client_secret"],
        "token": token,
    }


def hashtag_stream(server: LiveServer, token: str) -> SSEClient:
    return SSEClient(
        server.base_url, "/api/v1/streaming/hashtag", params={"tag": TAG}, headers=auth(token)
    )


async def still_streams(server: LiveServer, stream: SSEClient, poster: str) -> None:
    """The stream is open and delivers a new post."""
    posted = await off_loop(client(server, poster).status_post, f"still here #{TAG}")
    await stream.wait_until(
        lambda: any(f.json()["id"] == str(posted.id) for f in stream.frames), what="the post"
    )


async def test_revoking_a_token_ends_its_sse_stream_at_once(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    revoked = await app_with_token(server, http, "reader")
    bystander = await user_token(server, "bystander")
    poster = await user_token(server, "poster")
    watch = token_watch(server.services)
    # Without the periodic round, only the revoke endpoint's word can end the stream.
    await watch.stop()
    try:
        async with (
            hashtag_stream(server, revoked["token"]) as stream,
            hashtag_stream(server, bystander) as other,
        ):
            response = await http.post("/oauth/revoke", data=revoked)
            assert response.status_code == 200 and response.json() == {}
            await poll(stream.ended.is_set, 3, "the revoked token's stream to end")
            assert stream.error is None  # a clean end of the response, not a broken one
            assert not other.ended.is_set()
            await still_streams(server, other, poster)
    finally:
        await watch.start()
    again = await http.get(
        "/api/v1/streaming/hashtag", params={"tag": TAG}, headers=auth(revoked["token"])
    )
    assert again.status_code == 401


async def test_suspension_in_another_process_ends_sse_streams(
    server: LiveServer, http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    token = await user_token(server, "reader")
    bystander = await user_token(server, "bystander")
    poster = await user_token(server, "poster")
    watch = token_watch(server.services)
    async with (
        hashtag_stream(server, token) as stream,
        hashtag_stream(server, token) as second,
        hashtag_stream(server, bystander) as other,
    ):
        # As `backchannel suspend reader` does it: its own engine and transaction,
        # nothing said to the serving process.
        async with make_sessionmaker(engine)() as session, session.begin():
            account = await people.account_by_acct(session, "reader")
            assert account is not None
            await people.suspend(session, account, by=None, reason="test")
        deadline = server.services.settings.stream_token_check_seconds + 5
        await poll(
            lambda: stream.ended.is_set() and second.ended.is_set(),
            deadline,
            "both of the suspended account's streams to end",
        )
        assert stream.error is None and second.error is None
        assert not other.ended.is_set()
        await still_streams(server, other, poster)
        assert people.token_hash(token) not in watch.watched
        assert people.token_hash(bystander) in watch.watched
    # A closed stream is forgotten: nothing watched is left behind.
    await poll(lambda: not watch.watched, 5, "the watch to forget the closed stream")


async def test_revoking_a_token_closes_its_websocket(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    revoked = await app_with_token(server, http, "reader")
    url = server.base_url.replace("http://", "ws://") + "/api/v1/streaming"
    headers = {"Authorization": f"Bearer {revoked['token']}"}
    async with websockets.connect(url, additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "subscribe", "stream": "hashtag", "tag": TAG}))
        response = await http.post("/oauth/revoke", data=revoked)
        assert response.status_code == 200
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.close_code == 4001


# --- the watch itself ---------------------------------------------------------------


@contextmanager
def counted_queries(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SELECTs run meanwhile (a driver's own BEGIN is no query of ours)."""
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def test_one_query_checks_every_watched_token(
    sessionmaker: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    async with sessionmaker() as session, session.begin():
        tokens = []
        for i in range(60):
            account = await people.create_local_account(session, f"u{i}", PASSWORD, "attendee")
            await session.flush()
            tokens.append(await issue_user_token(session, account.id, "read", "test"))
    hashes = [people.token_hash(t) for t in tokens]
    watch = TokenWatch(sessionmaker, every=3600)  # not started: the test asks
    # Two streams on each token: the token is asked about once.
    waits = {h: [asyncio.create_task(watch.until_invalid(h)) for _ in range(2)] for h in hashes}
    await poll(lambda: len(watch.watched) == len(hashes), 5, "every stream to be watched")

    async with sessionmaker() as session, session.begin():
        suspended = await people.account_by_acct(session, "u0")
        assert suspended is not None
        await people.suspend(session, suspended, by=None)
        await session.execute(delete(ApiToken).where(ApiToken.token_hash == hashes[1]))

    with counted_queries(engine) as queries:
        ended = await watch.check()
    assert len(queries) == 1, queries
    assert ended == 2
    await asyncio.sleep(0)  # let the ended waits return
    assert all(t.done() for t in waits[hashes[0]] + waits[hashes[1]])
    assert not any(t.done() for h in hashes[2:] for t in waits[h])
    assert watch.watched == frozenset(hashes[2:])

    for h in hashes[2:]:
        for task in waits[h]:
            task.cancel()
    await asyncio.gather(*(t for ts in waits.values() for t in ts), return_exceptions=True)
    assert watch.watched == frozenset()  # streams gone, nothing kept
    with counted_queries(engine) as queries:
        assert await watch.check() == 0
    assert queries == []  # nothing watched, nothing asked
