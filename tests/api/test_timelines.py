"""Timelines: newest first, Mastodon's cursors, a source filter, and every tag of an event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

SESSION = {
    "title": "Opening keynote",
    "speakers": ["Minister"],
    "room": "Hall A",
    "starts_at": "2025-05-14T09:00:00+02:00",
    "ends_at": "2025-05-14T10:00:00+02:00",
    "tag": "DK18Keynote",
}


async def make_posts(api: Any, token: str, n: int, tag: str) -> list[str]:
    """``n`` posts under ``tag``; their ids, oldest first."""
    return [(await api.post(token, f"post {i} #{tag}"))["id"] for i in range(n)]


async def timeline_at(api: Any, kind: str, **params: Any) -> list[str]:
    if kind == "event":
        return list(api.ids(await api.timeline("dk2018", **params)))
    if kind == "tag":
        return list(api.ids(await api.tag_timeline("dk2018", **params)))
    return list(api.ids(await api.get_json("/api/accounts/alice/timeline", **params)))


@pytest.mark.parametrize("kind", ["event", "tag", "account"])
async def test_cursors(api: Any, kind: str) -> None:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "dk2018")
    alice = await api.user("alice")
    posted = await make_posts(api, alice, 7, "dk2018")
    newest_first = list(reversed(posted))
    assert [int(i) for i in posted] == sorted(int(i) for i in posted)

    assert await timeline_at(api, kind) == newest_first
    assert await timeline_at(api, kind, limit=3) == newest_first[:3]
    # max_id: older than it (the next page down).
    assert await timeline_at(api, kind, max_id=newest_first[2], limit=3) == newest_first[3:6]
    assert await timeline_at(api, kind, max_id=newest_first[5], limit=3) == newest_first[6:]
    assert await timeline_at(api, kind, max_id=posted[0]) == []
    # since_id: newer than it, the newest of those first.
    assert await timeline_at(api, kind, since_id=posted[3], limit=2) == newest_first[:2]
    # min_id: the page right after it (still newest first within the page).
    assert await timeline_at(api, kind, min_id=posted[3], limit=2) == [posted[5], posted[4]]
    assert await timeline_at(api, kind, min_id=posted[-1]) == []
    # Both bounds.
    assert await timeline_at(api, kind, max_id=posted[5], since_id=posted[1]) == [
        posted[4],
        posted[3],
        posted[2],
    ]


async def test_paging_through_a_timeline_sees_every_post_once(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "dk2018")
    alice = await api.user("alice")
    posted = await make_posts(api, alice, 9, "dk2018")
    seen: list[str] = []
    cursor: dict[str, Any] = {}
    while page := api.ids(await api.timeline("dk2018", limit=4, **cursor)):
        seen.extend(page)
        cursor = {"max_id": page[-1]}
    assert seen == list(reversed(posted))


async def test_newest_first_follows_when_posts_were_written_not_received(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "dk2018")
    now = datetime.now(UTC)
    # A connector catching up delivers older posts after newer ones.
    for n, minutes_ago in enumerate([5, 60, 1, 30]):
        await api.ingest(
            source_uri=f"https://social.example/statuses/{n}",
            content_html=f"<p>{minutes_ago} minutes ago #dk2018</p>",
            created_at=(now - timedelta(minutes=minutes_ago)).isoformat(),
        )
    expected = [f"{m} minutes ago #dk2018" for m in (1, 5, 30, 60)]
    assert api.texts(await api.timeline("dk2018")) == expected
    assert api.texts(await api.tag_timeline("dk2018")) == expected


async def test_filter_by_source(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "dk2018")
    alice = await api.user("alice")
    await api.post(alice, "local #dk2018")
    await api.ingest(source_uri="https://m.example/1", content_html="<p>fedi #dk2018</p>")
    await api.ingest(
        source="bluesky",
        source_uri="at://did:plc:abc/app.bsky.feed.post/1",
        text="sky #dk2018",
        author={"acct": "carol@bsky.social", "source": "bluesky"},
    )
    assert api.texts(await api.timeline("dk2018", source="local")) == ["local #dk2018"]
    assert api.texts(await api.timeline("dk2018", source="mastodon")) == ["fedi #dk2018"]
    assert api.texts(await api.tag_timeline("dk2018", source="bluesky")) == ["sky #dk2018"]
    assert await api.tag_timeline("dk2018", source="feed") == []
    assert len(await api.timeline("dk2018")) == 3
    carol = await api.get_json("/api/accounts/carol@bsky.social/timeline", source="bluesky")
    assert api.texts(carol) == ["sky #dk2018"]
    assert await api.get_json("/api/accounts/carol@bsky.social/timeline", source="local") == []


async def test_aliases_and_session_tags_count_for_the_event(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    await api.create_event(
        organiser, "dk2018", aliases=["DK18", "#digitalskills"], sessions=[SESSION]
    )
    alice = await api.user("alice")
    await api.post(alice, "primary #DK2018")
    await api.post(alice, "stray tag #dk18")
    await api.post(alice, "another stray #DigitalSkills")
    await api.post(alice, "about the keynote #dk18keynote")
    await api.post(alice, "unrelated #somethingelse")
    await api.post(alice, "both #dk18 #dk2018")
    await api.ingest(source_uri="https://m.example/1", content_html="<p>remote #Dk18</p>")
    texts = api.texts(await api.timeline("dk2018"))
    assert texts == [
        "remote #Dk18",
        "both #dk18 #dk2018",
        "about the keynote #dk18keynote",
        "another stray #DigitalSkills",
        "stray tag #dk18",
        "primary #DK2018",
    ]
    # A tag timeline shows exactly its own tag.
    assert api.texts(await api.tag_timeline("DK18")) == [
        "remote #Dk18",
        "both #dk18 #dk2018",
        "stray tag #dk18",
    ]


async def test_an_alias_added_later_counts_for_new_posts(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "dk2018")
    alice = await api.user("alice")
    await api.post(alice, "before the alias #dk18")
    response = await api.http.patch(
        "/api/events/dk2018", json={"aliases": ["dk18"]}, headers=api.auth(organiser)
    )
    assert response.status_code == 200, response.text
    await api.post(alice, "after the alias #dk18")
    assert api.texts(await api.timeline("dk2018")) == ["after the alias #dk18"]

    response = await api.http.patch(
        "/api/events/dk2018", json={"aliases": []}, headers=api.auth(organiser)
    )
    assert response.status_code == 200, response.text
    await api.post(alice, "alias gone #dk18")
    assert api.texts(await api.timeline("dk2018")) == ["after the alias #dk18"]


async def test_posting_into_an_event_adds_its_tag_unless_one_is_there(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "dk2018", aliases=["dk18"])
    alice = await api.user("alice")
    response = await api.http.post(
        "/api/events/dk2018/posts", json={"status": "no tag here"}, headers=api.auth(alice)
    )
    assert response.status_code == 201, response.text
    assert response.json()["text"] == "no tag here #dk2018"
    response = await api.http.post(
        "/api/events/dk2018/posts", json={"status": "alias here #DK18"}, headers=api.auth(alice)
    )
    assert response.json()["text"] == "alias here #DK18"
    assert api.texts(await api.timeline("dk2018")) == ["alias here #DK18", "no tag here #dk2018"]
    assert api.texts(await api.tag_timeline("dk2018")) == ["no tag here #dk2018"]


async def test_only_public_posts_reach_tag_and_event_timelines(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "dk2018")
    alice = await api.user("alice")
    await api.post(alice, "public #dk2018")
    await api.post(alice, "unlisted #dk2018", visibility="unlisted")
    private = await api.post(alice, "followers only #dk2018", visibility="private")
    direct = await api.post(alice, "direct #dk2018", visibility="direct")
    assert api.texts(await api.timeline("dk2018")) == ["public #dk2018"]
    assert api.texts(await api.tag_timeline("dk2018")) == ["public #dk2018"]
    assert api.texts(await api.get_json("/api/accounts/alice/timeline")) == [
        "unlisted #dk2018",
        "public #dk2018",
    ]
    assert (await api.http.get(f"/api/posts/{direct['id']}")).status_code == 404
    assert private["id"] not in api.ids((await api.wall("dk2018"))["posts"])


async def test_unknown_timelines_are_404(api: Any) -> None:
    for path in (
        "/api/events/nope/timeline",
        "/api/events/nope/wall",
        "/api/accounts/nobody/timeline",
    ):
        response = await api.http.get(path)
        assert response.status_code == 404
        assert "error" in response.json()
    # An unused but valid tag is simply empty.
    assert await api.tag_timeline("neverused") == []


async def test_a_remote_authors_timeline_in_any_case(api: Any) -> None:
    await api.ingest(
        source_uri="https://m.example/1",
        content_html="<p>hi #dk2018</p>",
        author={"acct": "Gargron@Mastodon.example", "source": "mastodon"},
    )
    # Usernames keep their case (Mastodon's @Gargron); domains have none.
    for spelling in ("Gargron@mastodon.example", "@Gargron@MASTODON.example"):
        posts = await api.get_json(f"/api/accounts/{spelling}/timeline")
        assert api.texts(posts) == ["hi #dk2018"], spelling
