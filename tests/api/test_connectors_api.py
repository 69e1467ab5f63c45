"""The connectors API: organisers add, change and remove an event's sources and see
their health; secrets never come back; bad input gets a clear error."""

from __future__ import annotations

from typing import Any

SLUG = "srcconf"
OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>Speakers' blogs</title></head><body>
  <outline text="Speakers">
    <outline type="rss" text="Ada" xmlUrl="https://ada.example/feed.xml"/>
    <outline type="rss" text="Grace" xmlUrl="https://grace.example/atom"/>
  </outline>
  <outline type="rss" text="Ada again" xmlUrl="https://ada.example/feed.xml"/>
</body></opml>"""


async def setup(api: Any) -> tuple[str, str]:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, SLUG)
    moderator = await api.user("moritz")
    response = await api.http.post(
        f"/api/events/{SLUG}/moderators", json={"username": "moritz"}, headers=api.auth(organiser)
    )
    assert response.status_code == 201, response.text
    return organiser, moderator


async def add(api: Any, token: str, body: dict[str, Any], status: int = 201) -> Any:
    response = await api.http.post(
        f"/api/events/{SLUG}/connectors", json=body, headers=api.auth(token)
    )
    assert response.status_code == status, response.text
    return response.json()


async def test_an_organiser_adds_sources_and_moderators_see_them_without_secrets(
    api: Any,
) -> None:
    organiser, moderator = await setup(api)
    bluesky = await add(api, organiser, {"kind": "bluesky"})
    masto = await add(
        api,
        organiser,
        {"kind": "mastodon", "server": "@olga@Social.Example", "token": "s3cret-token"},
    )
    feed = await add(
        api, organiser, {"kind": "feed", "url": "https://blog.example/feed", "match": "tagged"}
    )
    assert bluesky["kind"] == "bluesky" and bluesky["target"] == ""
    assert masto["target"] == "https://social.example"
    assert masto["config"] == {"token_set": True}
    assert feed["config"]["match"] == "tagged"
    assert bluesky["health"]["status"] in {"starting", "stopped"}

    listed = await api.get_json(f"/api/events/{SLUG}/connectors", moderator)
    assert {c["id"] for c in listed} == {bluesky["id"], masto["id"], feed["id"]}
    response = await api.http.get(f"/api/events/{SLUG}/connectors", headers=api.auth(moderator))
    assert "s3cret-token" not in response.text

    # The same source twice is refused, with a reason.
    again = await add(api, organiser, {"kind": "mastodon", "server": "social.example"}, 409)
    assert "already" in again["error"]

    # Change: switch off, replace the token; then remove.
    response = await api.http.patch(
        f"/api/events/{SLUG}/connectors/{masto['id']}",
        json={"enabled": False, "token": ""},
        headers=api.auth(organiser),
    )
    assert response.status_code == 200, response.text
    assert response.json()["enabled"] is False
    assert response.json()["config"] == {}
    assert response.json()["health"]["status"] == "stopped"
    response = await api.http.delete(
        f"/api/events/{SLUG}/connectors/{feed['id']}", headers=api.auth(organiser)
    )
    assert response.status_code == 204
    listed = await api.get_json(f"/api/events/{SLUG}/connectors", organiser)
    assert {c["id"] for c in listed} == {bluesky["id"], masto["id"]}


async def test_only_organisers_change_sources_and_only_moderators_see_them(api: Any) -> None:
    organiser, moderator = await setup(api)
    stranger = await api.user("sam")
    refused = await add(api, moderator, {"kind": "bluesky"}, 403)
    assert "owner" in refused["error"]
    response = await api.http.get(f"/api/events/{SLUG}/connectors", headers=api.auth(stranger))
    assert response.status_code == 403
    response = await api.http.get(f"/api/events/{SLUG}/connectors")
    assert response.status_code == 401
    created = await add(api, organiser, {"kind": "bluesky"})
    response = await api.http.delete(
        f"/api/events/{SLUG}/connectors/{created['id']}", headers=api.auth(moderator)
    )
    assert response.status_code == 403


async def test_bad_bodies_get_clear_errors(api: Any) -> None:
    organiser, _ = await setup(api)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"kind": "myspace"}, "kind"),
        ({"kind": "mastodon"}, "server"),
        ({"kind": "mastodon", "server": "javascript:alert(1)"}, "server"),
        ({"kind": "feed", "url": "not a url"}, "url"),
        ({"kind": "feed", "url": "https://b.example/f", "poll_seconds": 1}, "poll_seconds"),
        ({"kind": "bluesky", "backfill_hours": 6}, "backfill"),
        ({"kind": "bluesky", "surprise": True}, "surprise"),
    ]
    for body, word in cases:
        answer = await add(api, organiser, body, 422 if word != "backfill" else 400)
        assert word in str(answer), (body, answer)
    response = await api.http.patch(
        f"/api/events/{SLUG}/connectors/12345", json={}, headers=api.auth(organiser)
    )
    assert response.status_code == 404
    created = await add(api, organiser, {"kind": "bluesky"})
    response = await api.http.patch(
        f"/api/events/{SLUG}/connectors/{created['id']}",
        json={"match": "all"},
        headers=api.auth(organiser),
    )
    assert response.status_code == 400 and "no setting 'match'" in response.json()["error"]
    assert await api.get_json(f"/api/events/{SLUG}/connectors", organiser) != []


async def test_opml_import_registers_each_feed_once(api: Any) -> None:
    organiser, _ = await setup(api)
    response = await api.http.post(
        f"/api/events/{SLUG}/connectors/opml",
        content=OPML,
        headers={**api.auth(organiser), "Content-Type": "text/x-opml"},
    )
    assert response.status_code == 201, response.text
    result = response.json()
    assert sorted(c["target"] for c in result["added"]) == [
        "https://ada.example/feed.xml",
        "https://grace.example/atom",
    ]
    # Importing the same file again adds nothing, and says why.
    response = await api.http.post(
        f"/api/events/{SLUG}/connectors/opml",
        content=OPML,
        headers={**api.auth(organiser), "Content-Type": "text/x-opml"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["added"] == []
    assert [s["reason"] for s in response.json()["skipped"]] == ["already registered"] * 2
    response = await api.http.post(
        f"/api/events/{SLUG}/connectors/opml",
        content=b"<html>not opml",
        headers={**api.auth(organiser), "Content-Type": "text/x-opml"},
    )
    assert response.status_code == 400
    assert "OPML" in response.json()["error"]
