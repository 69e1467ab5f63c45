"""The events API: create, read, change, delete, and name moderators."""

from __future__ import annotations

from typing import Any

SESSIONS = [
    {
        "title": "Panel",
        "speakers": ["Ada", "Grace"],
        "room": "Room 2",
        "starts_at": "2025-05-14T14:00:00+02:00",
        "ends_at": "2025-05-14T15:00:00+02:00",
        "tag": "#DK18Panel",
    },
    {
        "title": "Keynote",
        "speakers": ["Minister"],
        "starts_at": "2025-05-14T09:00:00+02:00",
        "ends_at": "2025-05-14T10:00:00+02:00",
        "tag": "dk18keynote",
    },
]


async def test_an_organiser_creates_an_event_and_everyone_can_read_it(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    created = await api.create_event(
        organiser,
        "#DK2018",
        name="Digitale Kompetenzen 2018",
        aliases=["DK18", "#dk18", "dk2018", "DigitalSkills"],
        languages=["DE", "en", "de"],
        description="Where we talk about digital skills.",
        moderation_mode="after_the_fact",
        rules={"blocked_words": ["spam"]},
        sessions=SESSIONS,
    )
    # Tags are normalised; duplicates and the primary tag drop out of the aliases.
    assert created["slug"] == "dk2018"
    assert created["primary_tag"] == "dk2018"
    assert created["aliases"] == ["digitalskills", "dk18"]
    assert created["tags"] == ["dk2018", "digitalskills", "dk18", "dk18keynote", "dk18panel"]
    assert created["languages"] == ["de", "en"]
    assert created["timezone"] == "Europe/Berlin"
    assert created["starts_at"].startswith("2025-05-14T07:00:00")
    assert created["rules"]["blocked_words"] == ["spam"]
    # Sessions come in time order, each with its own tag.
    assert [(s["title"], s["tag"]) for s in created["sessions"]] == [
        ("Keynote", "dk18keynote"),
        ("Panel", "dk18panel"),
    ]
    assert created["sessions"][1]["speakers"] == ["Ada", "Grace"]

    public = await api.get_json("/api/events/dk2018")
    assert "rules" not in public
    assert {k: v for k, v in created.items() if k != "rules"} == public
    assert [e["slug"] for e in await api.events()] == ["dk2018"]


async def test_only_organisers_and_admins_create_events(api: Any) -> None:
    attendee = await api.user("alice")
    moderator = await api.user("moritz", "moderator")
    for token in (attendee, moderator):
        response = await api.http.post(
            "/api/events", json=api.event_body("dk2018"), headers=api.auth(token)
        )
        assert response.status_code == 403, response.text
        assert "organiser" in response.json()["error"]
    response = await api.http.post("/api/events", json=api.event_body("dk2018"))
    assert response.status_code == 401
    assert await api.events() == []
    admin = await api.user("root", "admin")
    await api.create_event(admin, "dk2018")
    assert [e["slug"] for e in await api.events()] == ["dk2018"]


async def test_slugs_are_unique_and_derived_from_the_tag(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    event = await api.create_event(organiser, "Work_Out_Loud")
    assert event["slug"] == "work-out-loud"
    response = await api.http.post(
        "/api/events",
        json=api.event_body("wol", slug="Work-Out-Loud"),
        headers=api.auth(organiser),
    )
    assert response.status_code == 409
    assert "work-out-loud" in response.json()["error"]
    custom = await api.create_event(organiser, "wol", slug="wol-2025")
    assert custom["slug"] == "wol-2025"
    assert sorted(e["slug"] for e in await api.events()) == ["wol-2025", "work-out-loud"]


async def test_invalid_event_fields_are_refused(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    bad: list[dict[str, Any]] = [
        {"ends_at": "2025-05-14T08:00:00+02:00"},
        {"starts_at": "2025-05-14T09:00:00"},
        {"timezone": "Mars/Olympus"},
        {"languages": ["german"]},
        {"slug": "no spaces"},
        {"moderation_mode": "chaos"},
        {"name": "   "},
    ]
    for fields in bad:
        response = await api.http.post(
            "/api/events", json=api.event_body("dk2018", **fields), headers=api.auth(organiser)
        )
        assert response.status_code == 422, (fields, response.text)
        field = next(iter(fields))
        assert any(d["field"].startswith(field) for d in response.json()["details"]), (
            fields,
            response.json(),
        )
    assert await api.events() == []


async def test_the_owner_changes_an_event(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "dk2018", aliases=["dk18"], sessions=SESSIONS)
    response = await api.http.patch(
        "/api/events/dk2018",
        json={
            "name": "DK 2018",
            "slug": "dk-2018",
            "aliases": ["digitalskills"],
            "sessions": SESSIONS[:1],
        },
        headers=api.auth(organiser),
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["name"] == "DK 2018"
    assert changed["slug"] == "dk-2018"
    assert changed["tags"] == ["dk2018", "digitalskills", "dk18panel"]
    # Only what was sent changed.
    assert changed["timezone"] == "Europe/Berlin"
    assert (await api.http.get("/api/events/dk2018")).status_code == 404
    assert (await api.get_json("/api/events/dk-2018"))["name"] == "DK 2018"

    response = await api.http.patch(
        "/api/events/dk-2018", json={"name": None}, headers=api.auth(organiser)
    )
    assert response.status_code == 422
    response = await api.http.patch(
        "/api/events/dk-2018",
        json={"ends_at": "2020-01-01T00:00:00Z"},
        headers=api.auth(organiser),
    )
    assert response.status_code == 422
    assert (await api.get_json("/api/events/dk-2018"))["ends_at"].startswith("2025-05-14")


async def test_only_the_owner_or_an_admin_changes_or_deletes_an_event(api: Any) -> None:
    owner = await api.user("olga", "organiser")
    other = await api.user("otto", "organiser")
    moderator = await api.user("moritz", "moderator")
    await api.create_event(owner, "dk2018")
    for token in (other, moderator):
        response = await api.http.patch(
            "/api/events/dk2018", json={"name": "Mine"}, headers=api.auth(token)
        )
        assert response.status_code == 403
        response = await api.http.delete("/api/events/dk2018", headers=api.auth(token))
        assert response.status_code == 403
    assert (await api.get_json("/api/events/dk2018"))["name"] == "Event dk2018"
    admin = await api.user("root", "admin")
    response = await api.http.patch(
        "/api/events/dk2018", json={"name": "By admin"}, headers=api.auth(admin)
    )
    assert response.status_code == 200
    assert (await api.get_json("/api/events/dk2018"))["name"] == "By admin"


async def test_deleting_an_event_takes_its_wall_but_not_the_posts(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "dk2018")
    alice = await api.user("alice")
    await api.post(alice, "hello #dk2018")
    response = await api.http.delete("/api/events/dk2018", headers=api.auth(organiser))
    assert response.status_code == 204
    assert await api.events() == []
    for path in ("/api/events/dk2018", "/api/events/dk2018/timeline", "/api/events/dk2018/wall"):
        assert (await api.http.get(path)).status_code == 404
    # The posts belong to their authors and their tags.
    assert api.texts(await api.tag_timeline("dk2018")) == ["hello #dk2018"]
    # The tag is free again.
    await api.create_event(organiser, "dk2018")
    response = await api.http.delete("/api/events/nope", headers=api.auth(organiser))
    assert response.status_code == 404


async def test_listing_events_pages(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    for tag in ("one", "two", "three"):
        await api.create_event(organiser, tag)
    everything = [e["slug"] for e in await api.events()]
    assert sorted(everything) == ["one", "three", "two"]
    first = await api.get_json("/api/events", limit=2)
    rest = await api.get_json("/api/events", limit=2, offset=2)
    assert [e["slug"] for e in first + rest] == everything


async def test_moderators_are_named_listed_and_removed(api: Any) -> None:
    owner = await api.user("olga", "organiser")
    await api.create_event(owner, "dk2018")
    await api.user("moritz")
    mia = await api.user("mia")
    for name in ("@Moritz", "mia", "mia"):
        response = await api.http.post(
            "/api/events/dk2018/moderators", json={"username": name}, headers=api.auth(owner)
        )
        assert response.status_code == 201, response.text
    listed = await api.get_json("/api/events/dk2018/moderators", owner)
    assert sorted(m["username"] for m in listed) == ["mia", "moritz"]
    # A named moderator moderates but does not manage.
    assert (await api.get_json("/api/events/dk2018", mia))["rules"] is not None
    response = await api.http.get("/api/events/dk2018/moderators", headers=api.auth(mia))
    assert response.status_code == 403
    response = await api.http.post(
        "/api/events/dk2018/moderators", json={"username": "mia"}, headers=api.auth(mia)
    )
    assert response.status_code == 403

    response = await api.http.post(
        "/api/events/dk2018/moderators", json={"username": "ghost"}, headers=api.auth(owner)
    )
    assert response.status_code == 404
    response = await api.http.delete("/api/events/dk2018/moderators/mia", headers=api.auth(owner))
    assert response.status_code == 204
    response = await api.http.delete("/api/events/dk2018/moderators/mia", headers=api.auth(owner))
    assert response.status_code == 404
    listed = await api.get_json("/api/events/dk2018/moderators", owner)
    assert [m["username"] for m in listed] == ["moritz"]
    assert "rules" not in await api.get_json("/api/events/dk2018", mia)
