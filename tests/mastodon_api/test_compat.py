"""What apps ask for at startup: each answers as Mastodon does for an account without
such things, with Mastodon's scopes and error shape; trending tags are the tags of
the events on now."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from support import LiveServer
from support_mastodon import client, off_loop, user_token

#: (path, the scope Mastodon asks for) of the lists that are always empty here.
EMPTY_LISTS = [
    ("/api/v2/filters", "read:filters"),
    ("/api/v1/filters", "read:filters"),
    ("/api/v1/lists", "read:lists"),
    ("/api/v1/conversations", "read:statuses"),
    ("/api/v1/bookmarks", "read:bookmarks"),
    ("/api/v1/follow_requests", "read:follows"),
    ("/api/v1/blocks", "read:blocks"),
    ("/api/v1/mutes", "read:mutes"),
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_empty_lists_with_their_scopes(server: LiveServer, http: Any) -> None:
    everything = bearer(await user_token(server, "alice"))
    unrelated = bearer(await user_token(server, "bob", scopes="read:accounts"))
    for i, (path, scope) in enumerate(EMPTY_LISTS):
        answer = await http.get(path, headers=everything)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.json() == [] and "link" not in answer.headers, path
        narrow = bearer(await user_token(server, f"narrow{i}", scopes=scope))
        assert (await http.get(path, headers=narrow)).status_code == 200, path
        refused = await http.get(path, headers=unrelated)
        assert refused.status_code == 403, path
        assert refused.json() == {"error": "This action is outside the authorized scopes"}
        assert (await http.get(path)).status_code == 401, path
    junk = await http.get("/api/v1/bookmarks", params={"max_id": "abc"}, headers=everything)
    assert junk.status_code == 422 and "max_id" in junk.json()["error"]


async def test_the_legacy_follow_scope_reads_blocks_mutes_and_requests(
    server: LiveServer, http: Any
) -> None:
    follow = bearer(await user_token(server, "alice", scopes="follow"))
    for path in ("/api/v1/blocks", "/api/v1/mutes", "/api/v1/follow_requests"):
        assert (await http.get(path, headers=follow)).status_code == 200, path


async def test_startup_calls_with_mastodon_py(server: LiveServer) -> None:
    alice = client(server, await user_token(server, "alice"))
    preferences = await off_loop(alice.preferences)
    assert preferences["posting:default:visibility"] == "public"
    assert preferences["reading:expand:spoilers"] is False
    assert list(await off_loop(alice.filters_v2)) == []
    assert list(await off_loop(alice.lists)) == []
    assert list(await off_loop(alice.conversations)) == []
    assert list(await off_loop(alice.announcements)) == []
    assert list(await off_loop(alice.bookmarks)) == []
    assert list(await off_loop(alice.follow_requests)) == []
    assert list(await off_loop(alice.blocks)) == []
    assert list(await off_loop(alice.mutes)) == []
    assert list(await off_loop(alice.instance_rules)) == []


async def test_announcements_need_a_user(server: LiveServer, http: Any) -> None:
    any_scope = bearer(await user_token(server, "alice", scopes="read:statuses"))
    assert (await http.get("/api/v1/announcements", headers=any_scope)).json() == []
    assert (await http.get("/api/v1/announcements")).status_code == 401


async def _event(server: LiveServer, tag: str, starts: timedelta, ends: timedelta) -> None:
    from backchannel.events import service as events
    from backchannel.events.schemas import EventCreate
    from backchannel.kit.clock import utcnow
    from backchannel.people import service as people

    async def write(uow: Any) -> None:
        owner = await people.account_by_acct(uow.session, "organiser")
        if owner is None:
            owner = await people.create_local_account(
                uow.session, "organiser", "correct-horse-battery", "organiser"
            )
        now = utcnow()
        data = EventCreate(
            name=f"Event {tag}", primary_tag=tag, starts_at=now + starts, ends_at=now + ends
        )
        await events.create_event(uow.session, data, owner)

    await server.services.writer.submit(write)


@pytest.mark.parametrize("path", ["/api/v1/trends/tags", "/api/v1/trends"])
async def test_trending_tags_are_the_events_on_now(
    server: LiveServer, http: Any, path: str
) -> None:
    hour, day = timedelta(hours=1), timedelta(days=1)
    await _event(server, "dk2018", -hour, day)
    await _event(server, "barcamp", -day, hour)
    await _event(server, "lastyear", -400 * day, -399 * day)
    await _event(server, "nextyear", 300 * day, 301 * day)
    alice = client(server, await user_token(server, "alice"))
    await off_loop(alice.status_post, "hello #dk2018")
    await off_loop(alice.tag_follow, "barcamp")
    anonymous = await http.get(path)
    assert anonymous.status_code == 200
    tags = anonymous.json()
    assert [t["name"] for t in tags] == ["dk2018", "barcamp"]
    assert tags[0]["url"].endswith("/tags/dk2018") and "following" not in tags[0]
    assert len(tags[0]["history"]) == 7 and tags[0]["history"][0]["uses"] == "1"
    signed_in = await off_loop(alice.trending_tags)
    assert [(t.name, t.following) for t in signed_in] == [("dk2018", False), ("barcamp", True)]
    assert [t["name"] for t in (await http.get(path, params={"offset": 1})).json()] == ["barcamp"]
    assert (await http.get(path, params={"limit": "x"})).status_code == 422


async def test_nothing_else_trends_and_rules_are_public(server: LiveServer, http: Any) -> None:
    for path in ("/api/v1/trends/statuses", "/api/v1/trends/links", "/api/v1/instance/rules"):
        answer = await http.get(path)
        assert answer.status_code == 200 and answer.json() == [], path
        assert answer.headers["access-control-allow-origin"] == "*"
