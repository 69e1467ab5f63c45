"""Suspending an account: its tokens and sessions stop working with the very next
request (native API, page session, Mastodon API), it cannot sign in, a suspended
remote author's posts are not taken in, and lifting the suspension restores it all."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from support import LiveServer
from support_mastodon import PASSWORD

VERIFY = "/api/v1/accounts/verify_credentials"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def masto_token(server: LiveServer, name: str) -> str:
    """A Mastodon API token for an existing local account (as ``backchannel token``)."""
    from backchannel.mastodon_api.tokens import issue_user_token
    from backchannel.people import service as people

    async def write(uow: Any) -> str:
        account = await people.account_by_acct(uow.session, name)
        assert account is not None
        return await issue_user_token(uow.session, account.id, "read write follow", "test")

    token: str = await server.services.writer.submit(write)
    return token


async def ingest_remote(server: LiveServer, uri: str, text: str) -> Any:
    """A remote post through the one door, the way a connector brings it."""
    from backchannel.posts.schemas import PostIn
    from backchannel.posts.service import ingest

    data = PostIn.model_validate(
        {
            "source": "mastodon",
            "source_uri": uri,
            "url": uri,
            "text": text,
            "author": {"acct": "remote@social.example", "source": "mastodon"},
        }
    )
    base = server.services.settings.public_url()

    async def write(uow: Any) -> Any:
        return await ingest(uow, data, base_url=base)

    return await server.services.writer.submit(write)


async def test_a_suspended_accounts_tokens_stop_at_once_and_come_back(
    server: LiveServer, http: Any
) -> None:
    admin = await server.user("root", "admin")
    native = await server.user("alice")
    masto = await masto_token(server, "alice")
    assert (await http.get("/api/me", headers=auth(native))).status_code == 200
    assert (await http.get(VERIFY, headers=auth(masto))).status_code == 200

    response = await http.post(
        "/api/accounts/alice/suspend", json={"reason": "spam"}, headers=auth(admin)
    )
    assert response.status_code == 200, response.text
    assert response.json()["suspended"] is True

    me = await http.get("/api/me", headers=auth(native))
    assert me.status_code == 401
    assert me.json() == {"error": "this account is suspended"}
    assert (await http.get(VERIFY, headers=auth(masto))).status_code == 401
    # Not even as an anonymous reader: a token that was sent must work.
    public = await http.get("/api/v1/timelines/public", headers=auth(masto))
    assert public.status_code == 401
    posted = await http.post("/api/posts", json={"status": "hi"}, headers=auth(native))
    assert posted.status_code == 401
    # Signing in again is refused, by the API and by the page form.
    signin = await http.post("/api/auth/token", json={"username": "alice", "password": PASSWORD})
    assert signin.status_code == 401
    form = await http.post("/auth/login", data={"username": "alice", "password": PASSWORD})
    assert form.status_code == 303
    assert form.headers["location"] == "/auth/login?error=1"
    # The profile is still there, and says so.
    assert (await http.get("/api/accounts/alice")).json()["suspended"] is True

    response = await http.post("/api/accounts/alice/unsuspend", headers=auth(admin))
    assert response.status_code == 200, response.text
    assert response.json()["suspended"] is False
    # Nothing was revoked: the same tokens work again.
    assert (await http.get("/api/me", headers=auth(native))).json()["suspended"] is False
    assert (await http.get(VERIFY, headers=auth(masto))).status_code == 200
    signin = await http.post("/api/auth/token", json={"username": "alice", "password": PASSWORD})
    assert signin.status_code == 200


async def test_a_suspended_accounts_page_session_stops(server: LiveServer, http: Any) -> None:
    admin = await server.user("root", "admin")
    await server.user("alice")
    form = await http.post("/auth/login", data={"username": "alice", "password": PASSWORD})
    assert form.status_code == 303
    assert form.headers["location"] == "/"
    assert (await http.get("/api/me")).json()["acct"] == "alice"  # the session cookie

    suspended = await http.post("/api/accounts/alice/suspend", headers=auth(admin))
    assert suspended.status_code == 200, suspended.text
    assert (await http.get("/api/me")).status_code == 401


async def test_only_admins_suspend(server: LiveServer, http: Any) -> None:
    admin = await server.user("root", "admin")
    organiser = await server.user("olga", "organiser")
    alice = await server.user("alice")
    for token in (organiser, alice):
        response = await http.post("/api/accounts/alice/suspend", headers=auth(token))
        assert response.status_code == 403, response.text
        response = await http.post("/api/accounts/alice/unsuspend", headers=auth(token))
        assert response.status_code == 403, response.text
    assert (await http.post("/api/accounts/alice/suspend")).status_code == 401
    assert (await http.get("/api/me", headers=auth(alice))).status_code == 200
    missing = await http.post("/api/accounts/nobody/suspend", headers=auth(admin))
    assert missing.status_code == 404
    myself = await http.post("/api/accounts/root/suspend", headers=auth(admin))
    assert myself.status_code == 403


async def test_a_suspended_remote_authors_posts_are_not_ingested(
    server: LiveServer, http: Any
) -> None:
    admin = await server.user("root", "admin")
    first = await ingest_remote(server, "https://social.example/1", "before #susp")
    assert first.outcome == "created"

    response = await http.post(
        "/api/accounts/remote@social.example/suspend",
        json={"reason": "spam"},
        headers=auth(admin),
    )
    assert response.status_code == 200, response.text
    assert response.json()["suspended"] is True
    refused = await ingest_remote(server, "https://social.example/2", "during #susp")
    assert (refused.post, refused.outcome) == (None, "refused")
    timeline = (await http.get("/api/tags/susp/timeline")).json()
    assert [p["text"] for p in timeline] == ["before #susp"]

    response = await http.post("/api/accounts/remote@social.example/unsuspend", headers=auth(admin))
    assert response.status_code == 200, response.text
    after = await ingest_remote(server, "https://social.example/3", "after #susp")
    assert after.outcome == "created"
    timeline = (await http.get("/api/tags/susp/timeline")).json()
    assert [p["text"] for p in timeline] == ["after #susp", "before #susp"]


async def test_a_suspended_moderators_queue_stream_ends(server: LiveServer, http: Any) -> None:
    admin = await server.user("root", "admin")
    ops = await server.user("ops", "admin")
    created = await http.post(
        "/api/events",
        json={
            "name": "Suspension",
            "primary_tag": "suspq",
            "starts_at": "2025-05-14T09:00:00+02:00",
            "ends_at": "2025-05-14T18:00:00+02:00",
            "timezone": "Europe/Berlin",
        },
        headers=auth(admin),
    )
    assert created.status_code == 201, created.text
    path = f"/api/streams/events/{created.json()['slug']}/queue"

    async def read_to_end() -> bytes:
        body = b""
        async with http.stream("GET", path, params={"access_token": ops}) as response:
            assert response.status_code == 200
            async for chunk in response.aiter_bytes():
                body += chunk
                if body.startswith(b": open") and not suspended.done():
                    suspended.set_result(None)
        return body

    suspended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    reader = asyncio.create_task(read_to_end())
    await asyncio.wait_for(suspended, 5)
    response = await http.post("/api/accounts/ops/suspend", headers=auth(admin))
    assert response.status_code == 200, response.text
    # The heartbeat is 1 s in tests: the stream ends within a few.
    body = await asyncio.wait_for(reader, 8)
    assert body.startswith(b": open")


def test_the_command_line_suspends_and_restores(tmp_path: Path) -> None:
    from backchannel.cli import cli

    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    made = runner.invoke(cli, ["create-user", "alice", *data], input=PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    assert runner.invoke(cli, ["suspend", "alice", "--reason", "spam", *data]).exit_code == 0

    async def suspended() -> bool:
        from backchannel.config import Settings
        from backchannel.db.engine import engine_for, make_sessionmaker
        from backchannel.people import service as people

        engine = engine_for(Settings(data_dir=tmp_path))
        try:
            async with make_sessionmaker(engine)() as session:
                account = await people.account_by_acct(session, "alice")
                assert account is not None
                return account.is_suspended
        finally:
            await engine.dispose()

    assert asyncio.run(suspended()) is True
    assert runner.invoke(cli, ["suspend", "alice", "--undo", *data]).exit_code == 0
    assert asyncio.run(suspended()) is False
    missing = runner.invoke(cli, ["suspend", "nobody@else.example", *data])
    assert missing.exit_code != 0
    assert "no account" in missing.output
