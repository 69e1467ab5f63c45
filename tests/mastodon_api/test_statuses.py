"""Statuses and timelines with Mastodon.py: post, page the tag timeline with
``fetch_next``, follow tags, favourite and reblog; visibility; CORS for walls."""

from __future__ import annotations

from typing import Any

from mastodon.errors import MastodonNotFoundError

from support import LiveServer
from support_mastodon import client, off_loop, user_token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_tag_timeline_pages_with_fetch_next(server: LiveServer) -> None:
    alice = client(server, await user_token(server, "alice"))
    posted = [await off_loop(alice.status_post, f"talk {i} #DK2018") for i in range(7)]
    assert posted[0].tags[0].name == "dk2018"
    page = await off_loop(alice.timeline_hashtag, "dk2018", limit=3)
    seen = []
    while page:
        seen.extend(s.id for s in page)
        page = await off_loop(alice.fetch_next, page)
    assert seen == [s.id for s in reversed(posted)]
    # And back: min_id pages towards the newest.
    newer = await off_loop(alice.timeline_hashtag, "dk2018", min_id=posted[2].id, limit=2)
    assert [s.id for s in newer] == [posted[4].id, posted[3].id]


async def test_follow_a_tag_and_find_it_in_followed_tags(server: LiveServer) -> None:
    alice = client(server, await user_token(server, "alice"))
    tag = await off_loop(alice.tag_follow, "DK2018")
    assert tag.name == "dk2018" and tag.following is True
    assert [t.name for t in await off_loop(alice.followed_tags)] == ["dk2018"]
    shown = await off_loop(alice.tag, "dk2018")
    assert shown.following is True and len(shown.history) == 7
    # A post under a followed tag reaches the home timeline.
    bob = client(server, await user_token(server, "bob"))
    status = await off_loop(bob.status_post, "hello #dk2018")
    assert status.id in [s.id for s in await off_loop(alice.timeline_home)]
    await off_loop(alice.tag_unfollow, "dk2018")
    assert list(await off_loop(alice.followed_tags)) == []


async def test_anonymous_wall_reads_cross_origin(server: LiveServer, http: Any) -> None:
    alice = client(server, await user_token(server, "alice"))
    await off_loop(alice.status_post, "on the wall #wall")
    await off_loop(alice.status_post, "not this one #wall #word")
    response = await http.get(
        "/api/v1/timelines/tag/wall?limit=20&none=word", headers={"Origin": "https://wall.example"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    assert "Link" in response.headers["access-control-expose-headers"]
    assert [s["tags"] for s in response.json()] == [
        [
            {
                "id": s["tags"][0]["id"],
                "name": "wall",
                "url": f"{server.base_url}/tags/wall",
                "history": [],
            }
        ]
        for s in response.json()
    ]
    assert len(response.json()) == 1
    assert response.headers["x-ratelimit-limit"] == "300"
    assert int(response.headers["x-ratelimit-remaining"]) < 300
    assert response.headers["x-ratelimit-reset"].endswith("Z")
    link = response.headers["link"]
    assert 'rel="next"' in link and "none=word" in link and "max_id=" in link
    preflight = await http.options(
        "/api/v1/timelines/tag/wall",
        headers={
            "Origin": "https://wall.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 204
    assert "Authorization" in preflight.headers["access-control-allow-headers"]
    # Lookups and statuses are public reads too.
    status_id = response.json()[0]["id"]
    assert (await http.get(f"/api/v1/statuses/{status_id}")).status_code == 200
    lookup = await http.get("/api/v1/accounts/lookup", params={"acct": "alice"})
    assert lookup.json()["username"] == "alice"


async def test_private_and_direct_posts_stay_out_of_public_timelines(
    server: LiveServer, http: Any
) -> None:
    alice = client(server, await user_token(server, "alice"))
    bob = client(server, await user_token(server, "bob"))
    private = await off_loop(alice.status_post, "secret #hush", visibility="private")
    direct = await off_loop(alice.status_post, "@bob psst #hush", visibility="direct")
    public = await off_loop(alice.status_post, "open #hush")
    for path in ("/api/v1/timelines/tag/hush", "/api/v1/timelines/public"):
        ids = [s["id"] for s in (await http.get(path)).json()]
        assert ids == [public.id], path
    assert (await http.get(f"/api/v1/statuses/{private.id}")).status_code == 404
    assert (await http.get(f"/api/v1/statuses/{direct.id}")).json() == {"error": "Record not found"}
    # Bob is mentioned: he may read the direct post, not the private one.
    assert (await off_loop(bob.status, direct.id)).id == direct.id
    try:
        await off_loop(bob.status, private.id)
        raise AssertionError("a private post was shown to a non-follower")
    except MastodonNotFoundError:
        pass
    home = [s.id for s in await off_loop(alice.timeline_home)]
    assert {private.id, direct.id, public.id} <= set(home)


async def test_idempotency_key_gives_the_same_status(server: LiveServer, http: Any) -> None:
    token = await user_token(server, "alice")
    headers = {**bearer(token), "Idempotency-Key": "abc-123"}
    first = await http.post("/api/v1/statuses", data={"status": "once #retry"}, headers=headers)
    second = await http.post("/api/v1/statuses", data={"status": "once #retry"}, headers=headers)
    assert first.json()["id"] == second.json()["id"]
    assert len((await http.get("/api/v1/timelines/tag/retry")).json()) == 1


async def test_edit_favourite_reblog_and_context(server: LiveServer) -> None:
    alice = client(server, await user_token(server, "alice"))
    bob = client(server, await user_token(server, "bob"))
    root = await off_loop(alice.status_post, "root #ctx")
    reply = await off_loop(bob.status_post, "reply #ctx", in_reply_to_id=root.id)
    assert reply.in_reply_to_id == root.id and reply.in_reply_to_account_id == root.account.id
    context = await off_loop(alice.status_context, reply.id)
    assert [s.id for s in context.ancestors] == [root.id]
    assert [s.id for s in (await off_loop(alice.status_context, root.id)).descendants] == [reply.id]

    faved = await off_loop(bob.status_favourite, root.id)
    assert faved.favourited is True and faved.favourites_count == 1
    boost = await off_loop(bob.status_reblog, root.id)
    assert boost.reblog.id == root.id and boost.reblog.reblogs_count == 1
    shown = await off_loop(alice.status, root.id)
    assert (shown.favourites_count, shown.reblogs_count, shown.replies_count) == (1, 1, 1)
    unboosted = await off_loop(bob.status_unreblog, root.id)
    assert unboosted.reblogs_count == 0

    edited = await off_loop(alice.status_update, root.id, "root, edited #ctx")
    assert edited.edited_at is not None and "edited" in edited.content
    deleted = await off_loop(alice.status_delete, root.id)
    assert deleted.text == "root, edited #ctx"


async def test_follow_accounts_and_relationships(server: LiveServer) -> None:
    alice = client(server, await user_token(server, "alice"))
    bob = client(server, await user_token(server, "bob"))
    bob_id = (await off_loop(bob.me)).id
    rel = await off_loop(alice.account_follow, bob_id)
    assert rel.following is True and rel.followed_by is False
    [rel] = await off_loop(alice.account_relationships, [bob_id])
    assert rel.following is True
    followers = await off_loop(alice.account_followers, bob_id)
    assert [a.username for a in followers] == ["alice"]
    post = await off_loop(bob.status_post, "followers only", visibility="private")
    assert post.id in [s.id for s in await off_loop(alice.timeline_home)]
    assert (await off_loop(alice.status, post.id)).id == post.id
    statuses = await off_loop(alice.account_statuses, bob_id)
    assert [s.id for s in statuses] == [post.id]
    assert (await off_loop(alice.account, bob_id)).followers_count == 1
    results = await off_loop(alice.search_v2, "bo")
    assert [a.username for a in results.accounts] == ["bob"]
    await off_loop(alice.account_unfollow, bob_id)
    assert list(await off_loop(alice.account_statuses, bob_id)) == []


async def test_errors_have_mastodons_shape(server: LiveServer, http: Any) -> None:
    token = await user_token(server, "alice")
    cases = [
        await http.get("/api/v1/timelines/tag/x", params={"limit": "many"}),
        await http.get("/api/v1/statuses/abc"),
        await http.get("/api/v1/statuses/12345"),
        await http.post("/api/v1/statuses", data={"status": ""}, headers=bearer(token)),
        await http.post(
            "/api/v1/statuses", data={"status": "x", "visibility": "loud"}, headers=bearer(token)
        ),
        await http.get("/api/v1/timelines/home"),
    ]
    assert [r.status_code for r in cases] == [422, 422, 404, 422, 422, 401]
    for response in cases:
        body = response.json()
        assert set(body) == {"error"} and isinstance(body["error"], str), body
