"""Notifications with Mastodon.py: favourites, boosts, follows and mentions arrive
newest first, page with ``fetch_next``, filter by type and account, are dismissed
and cleared for good, go away when undone, and stream as they happen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from mastodon import Mastodon
from mastodon.errors import MastodonNotFoundError

from support import LiveServer
from support_mastodon import client, off_loop, user_token
from support_sse import SSEClient


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def people(server: LiveServer, *names: str) -> list[Mastodon]:
    return [client(server, await user_token(server, name)) for name in names]


async def ids_of(reader: Mastodon, **kwargs: Any) -> list[tuple[str, str]]:
    """(type, actor's username) of each notification, newest first."""
    found = await off_loop(reader.notifications, **kwargs)
    return [(n.type, n.account.username) for n in found]


async def test_each_kind_arrives_newest_first_with_its_account_and_status(
    server: LiveServer, http: Any
) -> None:
    alice, bob = await people(server, "alice", "bob")
    post = await off_loop(alice.status_post, "my talk #dk2018")
    await off_loop(bob.status_favourite, post.id)
    await off_loop(bob.status_reblog, post.id)
    me = await off_loop(alice.me)
    await off_loop(bob.account_follow, me.id)
    mention = await off_loop(bob.status_post, "@alice great talk!")
    # Her own doings are no news to her.
    await off_loop(alice.status_favourite, post.id)
    await off_loop(alice.status_post, "note to @alice self")

    found = await off_loop(alice.notifications)
    assert [n.type for n in found] == ["mention", "follow", "reblog", "favourite"]
    assert {n.account.username for n in found} == {"bob"}
    assert found[0].status.id == mention.id
    assert found[0].status.mentions[0].username == "alice"
    assert found[1].get("status") is None
    assert found[2].status.id == post.id and found[3].status.id == post.id
    # Alice sees her post as she sees it elsewhere: counted, and favourited by her.
    assert found[3].status.favourites_count == 2 and found[3].status.favourited is True
    assert isinstance(found[0].created_at, datetime)
    assert list(await off_loop(bob.notifications)) == []

    raw = await http.get("/api/v1/notifications", headers=bearer(alice.access_token))
    assert raw.status_code == 200, raw.text
    entities = raw.json()
    for entity in entities:
        assert isinstance(entity["id"], str) and entity["id"].isdigit()
        assert entity["created_at"].endswith("Z")
        assert entity["group_key"] == f"ungrouped-{entity['id']}"
        assert entity["account"]["acct"] == "bob" and isinstance(entity["account"]["id"], str)
    assert [int(e["id"]) for e in entities] == sorted(
        (int(e["id"]) for e in entities), reverse=True
    )
    assert "status" not in entities[1]
    assert entities[3]["status"]["account"]["username"] == "alice"
    single = await off_loop(alice.notifications, id=found[2].id)
    assert single.type == "reblog" and single.status.id == post.id


async def test_pages_with_fetch_next_and_keeps_filters_in_the_link(
    server: LiveServer, http: Any
) -> None:
    [alice] = await people(server, "alice")
    me = await off_loop(alice.me)
    fans = await people(server, *(f"fan{i}" for i in range(5)))
    for fan in fans:
        await off_loop(fan.account_follow, me.id)
    page = await off_loop(alice.notifications, limit=2)
    seen: list[str] = []
    while page:
        assert len(page) <= 2
        seen.extend(n.account.username for n in page)
        page = await off_loop(alice.fetch_next, page)
    assert seen == [f"fan{i}" for i in reversed(range(5))]

    everything = await off_loop(alice.notifications)
    newer = await off_loop(alice.notifications, min_id=everything[3].id, limit=2)
    assert [n.id for n in newer] == [everything[1].id, everything[2].id]
    since = await off_loop(alice.notifications, since_id=everything[1].id)
    assert [n.id for n in since] == [everything[0].id]

    response = await http.get(
        "/api/v1/notifications",
        params={"limit": 2, "types[]": "follow"},
        headers=bearer(alice.access_token),
    )
    link = response.headers["link"]
    assert 'rel="next"' in link and 'rel="prev"' in link
    assert "types%5B%5D=follow" in link and f"max_id={response.json()[-1]['id']}" in link


async def test_types_exclude_types_and_account_id_filter(server: LiveServer, http: Any) -> None:
    alice, bob, carol = await people(server, "alice", "bob", "carol")
    post = await off_loop(alice.status_post, "hello")
    await off_loop(bob.status_favourite, post.id)
    await off_loop(carol.status_favourite, post.id)
    await off_loop(carol.status_post, "@alice hi")
    assert await ids_of(alice, types=["favourite"]) == [
        ("favourite", "carol"),
        ("favourite", "bob"),
    ]
    assert await ids_of(alice, exclude_types=["favourite"]) == [("mention", "carol")]
    assert await ids_of(alice, types=["favourite", "mention"], exclude_types=["mention"]) == [
        ("favourite", "carol"),
        ("favourite", "bob"),
    ]
    # Types we never send are no error, as on Mastodon.
    assert await ids_of(alice, types=["poll"]) == []
    bob_id = (await off_loop(bob.me)).id
    assert await ids_of(alice, account_id=bob_id) == [("favourite", "bob")]
    bad = await http.get(
        "/api/v1/notifications", params={"account_id": "bob"}, headers=bearer(alice.access_token)
    )
    assert bad.status_code == 422 and "account_id" in bad.json()["error"]
    too_many = await http.get(
        "/api/v1/notifications", params={"limit": 500}, headers=bearer(alice.access_token)
    )
    assert too_many.status_code == 200 and len(too_many.json()) == 3


async def test_dismissed_and_cleared_notifications_stay_gone(server: LiveServer, http: Any) -> None:
    alice, bob = await people(server, "alice", "bob")
    post = await off_loop(alice.status_post, "hello")
    await off_loop(bob.status_favourite, post.id)
    await off_loop(bob.status_reblog, post.id)
    first = await off_loop(alice.notifications)
    await off_loop(alice.notifications_dismiss, first[0].id)
    assert await ids_of(alice) == [("favourite", "bob")]
    with pytest.raises(MastodonNotFoundError):
        await off_loop(alice.notifications, id=first[0].id)
    again = await http.post(
        f"/api/v1/notifications/{first[0].id}/dismiss", headers=bearer(alice.access_token)
    )
    assert again.status_code == 404 and again.json() == {"error": "Record not found"}
    # Someone else's notification is not yours to dismiss.
    stranger = await http.post(
        f"/api/v1/notifications/{first[1].id}/dismiss", headers=bearer(bob.access_token)
    )
    assert stranger.status_code == 404
    # Favouriting again what is favourited already is no new news.
    await off_loop(bob.status_favourite, post.id)
    assert await ids_of(alice) == [("favourite", "bob")]

    await off_loop(alice.notifications_clear)
    assert await ids_of(alice) == []
    await off_loop(bob.status_post, "@alice still there?")
    assert await ids_of(alice) == [("mention", "bob")]


async def test_what_is_undone_is_no_longer_shown(server: LiveServer) -> None:
    alice, bob = await people(server, "alice", "bob")
    me = await off_loop(alice.me)
    post = await off_loop(alice.status_post, "hello")
    await off_loop(bob.status_favourite, post.id)
    await off_loop(bob.status_reblog, post.id)
    await off_loop(bob.account_follow, me.id)
    mention = await off_loop(bob.status_post, "@alice hi")
    assert len(await ids_of(alice)) == 4
    await off_loop(bob.status_unfavourite, post.id)
    await off_loop(bob.status_unreblog, post.id)
    await off_loop(bob.account_unfollow, me.id)
    await off_loop(bob.status_delete, mention.id)
    assert await ids_of(alice) == []
    # Done again, it is news again, with a newer id.
    await off_loop(bob.status_favourite, post.id)
    await off_loop(bob.account_follow, me.id)
    assert await ids_of(alice) == [("follow", "bob"), ("favourite", "bob")]
    # Deleting the post takes its favourite's notification along.
    await off_loop(alice.status_delete, post.id)
    assert await ids_of(alice) == [("follow", "bob")]


async def test_a_suspended_actor_is_not_shown(server: LiveServer) -> None:
    from backchannel.people import service as people_service

    alice, bob, carol = await people(server, "alice", "bob", "carol")
    post = await off_loop(alice.status_post, "hello")
    await off_loop(bob.status_favourite, post.id)
    await off_loop(carol.status_favourite, post.id)

    async def suspend_bob(uow: Any) -> None:
        bob_account = await people_service.account_by_acct(uow.session, "bob")
        await people_service.suspend(uow.session, bob_account, by=None)

    await server.services.writer.submit(suspend_bob)
    assert await ids_of(alice) == [("favourite", "carol")]


async def test_mentions_follow_who_may_read_the_post(server: LiveServer) -> None:
    alice, bob, carol = await people(server, "alice", "bob", "carol")
    carol_id = (await off_loop(carol.me)).id
    # Followers-only: Alice does not follow Carol, so she may not read it, nor hear of it.
    await off_loop(carol.status_post, "@alice @bob for my followers", visibility="private")
    await off_loop(bob.account_follow, carol_id)
    await off_loop(carol.status_post, "@alice @bob followers again", visibility="private")
    direct = await off_loop(carol.status_post, "@alice just you", visibility="direct")
    # A name on another server is someone else; this server's own host is us.
    await off_loop(carol.status_post, "@alice@elsewhere.example not you")
    host = server.base_url.removeprefix("http://")
    await off_loop(carol.status_post, f"@alice@{host} you, in full")
    assert [t for t, _ in await ids_of(alice)] == ["mention", "mention"]
    assert (await off_loop(alice.notifications))[1].status.id == direct.id
    assert [t for t, _ in await ids_of(bob)] == ["mention"]
    # Once she follows Carol, Carol's followers-only mentions reach her …
    await off_loop(alice.account_follow, carol_id)
    await off_loop(carol.status_post, "@alice welcome", visibility="private")
    assert len(await ids_of(alice)) == 3
    # … and stop showing when she no longer may read them.
    await off_loop(alice.account_unfollow, carol_id)
    assert len(await ids_of(alice)) == 2
    # A direct post edited to leave her out is no longer hers to read either.
    await off_loop(carol.status_update, direct.id, "never mind")
    assert direct.id not in [n.status.id for n in await off_loop(alice.notifications)]


async def test_a_mention_added_by_an_edit_notifies_once(server: LiveServer) -> None:
    alice, bob, carol = await people(server, "alice", "bob", "carol")
    post = await off_loop(carol.status_post, "thanks @bob")
    assert [t for t, _ in await ids_of(bob)] == ["mention"]
    assert await ids_of(alice) == []
    # Alice is named by the edit: she hears of it; Bob, named before, not again.
    await off_loop(carol.status_update, post.id, "thanks @bob and @alice")
    assert await ids_of(alice) == [("mention", "carol")]
    assert [t for t, _ in await ids_of(bob)] == ["mention"]
    # Another edit that keeps them both tells nobody anything new.
    await off_loop(carol.status_update, post.id, "thanks @bob and @alice!")
    assert len(await ids_of(alice)) == 1 and len(await ids_of(bob)) == 1


async def test_unread_count_counts_from_the_notifications_marker(server: LiveServer) -> None:
    alice, bob = await people(server, "alice", "bob")
    post = await off_loop(alice.status_post, "hello")
    await off_loop(bob.status_favourite, post.id)
    await off_loop(bob.status_reblog, post.id)
    await off_loop(bob.status_post, "@alice hi")
    assert (await off_loop(alice.notifications_unread_count)).count == 3
    found = await off_loop(alice.notifications)
    await off_loop(alice.markers_set, "notifications", found[1].id)
    assert (await off_loop(alice.notifications_unread_count)).count == 1


async def test_scopes_and_users(server: LiveServer, http: Any) -> None:
    reader = await user_token(server, "reader", scopes="read:notifications")
    statuses_only = await user_token(server, "other", scopes="read:statuses write:statuses")
    assert (await http.get("/api/v1/notifications")).status_code == 401
    wrong = await http.get("/api/v1/notifications", headers=bearer(statuses_only))
    assert wrong.status_code == 403 and wrong.json() == {
        "error": "This action is outside the authorized scopes"
    }
    assert (await http.get("/api/v1/notifications", headers=bearer(reader))).json() == []
    cleared = await http.post("/api/v1/notifications/clear", headers=bearer(reader))
    assert cleared.status_code == 403
    junk = await http.get("/api/v1/notifications/abc", headers=bearer(reader))
    assert junk.status_code == 422 and "error" in junk.json()
    missing = await http.get("/api/v1/notifications/12345", headers=bearer(reader))
    assert missing.status_code == 404 and missing.json() == {"error": "Record not found"}


async def test_notifications_stream_as_they_happen(server: LiveServer) -> None:
    alice_token = await user_token(server, "alice")
    alice = client(server, alice_token)
    [bob] = await people(server, "bob")
    post = await off_loop(alice.status_post, "hello")
    headers = bearer(alice_token)
    async with (
        SSEClient(server.base_url, "/api/v1/streaming/user/notification", headers=headers) as only,
        SSEClient(server.base_url, "/api/v1/streaming/user", headers=headers) as home,
    ):
        await off_loop(bob.status_favourite, post.id)
        await only.wait_until(lambda: bool(only.frames), what="a notification")
        frame = only.frames[0]
        assert frame.event == "notification"
        notification = frame.json()
        assert notification["type"] == "favourite"
        assert notification["account"]["username"] == "bob"
        assert notification["status"]["id"] == post.id
        assert notification["status"]["favourites_count"] == 1
        await home.wait_until(
            lambda: any(f.event == "notification" for f in home.frames), what="the user stream"
        )
        stored = await off_loop(alice.notifications)
        assert [n.id for n in stored] == [notification["id"]]
