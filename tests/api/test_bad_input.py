"""Bad input gets a clear 4xx JSON error and leaves nothing half-written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest


def assert_error(response: Any, status: int, *words: str) -> dict[str, Any]:
    """A JSON error with ``status`` whose message names what was wrong."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    text = (body["error"] + " " + str(body.get("details", ""))).lower()
    for word in words:
        assert word.lower() in text, body
    return body


async def test_malformed_json_is_400_and_writes_nothing(api: Any) -> None:
    token = await api.user("alice")
    response = await api.http.post(
        "/api/posts",
        content=b'{"status": "hello #badjson",',
        headers={**api.auth(token), "Content-Type": "application/json"},
    )
    assert_error(response, 400, "malformed JSON")
    assert await api.tag_timeline("badjson") == []
    assert await api.get_json("/api/accounts/alice/timeline") == []

    organiser = await api.user("olga", "organiser")
    response = await api.http.post(
        "/api/events",
        content=b"{not json at all",
        headers={**api.auth(organiser), "Content-Type": "application/json"},
    )
    assert_error(response, 400, "malformed JSON")
    assert await api.events() == []


async def test_unknown_fields_are_refused_by_name(api: Any) -> None:
    token = await api.user("alice")
    response = await api.http.post(
        "/api/posts",
        json={"status": "hi #unknownfield", "colour": "red"},
        headers=api.auth(token),
    )
    body = assert_error(response, 422, "colour")
    assert any(d["field"] == "colour" for d in body["details"])
    assert await api.tag_timeline("unknownfield") == []

    organiser = await api.user("olga", "organiser")
    response = await api.http.post(
        "/api/events",
        json=api.event_body("dk2018", is_admin=True),
        headers=api.auth(organiser),
    )
    assert_error(response, 422, "is_admin")
    assert await api.events() == []


async def test_missing_fields_are_refused_by_name(api: Any) -> None:
    token = await api.user("alice")
    response = await api.http.post("/api/posts", json={}, headers=api.auth(token))
    assert_error(response, 422, "status")

    organiser = await api.user("olga", "organiser")
    body = api.event_body("dk2018")
    del body["starts_at"]
    response = await api.http.post("/api/events", json=body, headers=api.auth(organiser))
    assert_error(response, 422, "starts_at")
    assert await api.events() == []
    assert await api.get_json("/api/accounts/alice/timeline") == []


async def test_a_body_over_the_limit_is_413(api: Any) -> None:
    limit = api.server.services.settings.max_body_bytes
    token = await api.user("alice")
    status = "x" * 1_200_000 + " #toobig"
    assert len(status) > limit
    response = await api.http.post("/api/posts", json={"status": status}, headers=api.auth(token))
    assert_error(response, 413, str(limit))
    assert await api.tag_timeline("toobig") == []
    # The server still answers normally afterwards.
    await api.post(token, "small #toobig")
    assert api.texts(await api.tag_timeline("toobig")) == ["small #toobig"]


async def test_a_chunked_body_over_the_limit_is_413(api: Any) -> None:
    limit = api.server.services.settings.max_body_bytes
    token = await api.user("alice")
    payload = b'{"status": "' + b"y" * 1_200_000 + b' #chunked"}'

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 64 * 1024):
            yield payload[start : start + 64 * 1024]

    request = api.http.build_request(
        "POST",
        "/api/posts",
        content=chunks(),
        headers={**api.auth(token), "Content-Type": "application/json"},
    )
    # An async generator gives no Content-Length: httpx sends it chunked.
    assert "content-length" not in request.headers
    assert request.headers.get("transfer-encoding") == "chunked"
    response = await api.http.send(request)
    assert_error(response, 413, str(limit))
    assert await api.tag_timeline("chunked") == []


async def test_a_small_chunked_body_is_accepted(api: Any) -> None:
    token = await api.user("alice")

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"status": "small '
        yield b'#chunked"}'

    response = await api.http.post(
        "/api/posts",
        content=chunks(),
        headers={**api.auth(token), "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    assert api.texts(await api.tag_timeline("chunked")) == ["small #chunked"]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"primary_tag": "#2018"}, "primary_tag"),
        ({"aliases": ["dk18", "foo-bar"]}, "aliases"),
        (
            {
                "sessions": [
                    {
                        "title": "Opening",
                        "starts_at": "2025-05-14T09:00:00+02:00",
                        "ends_at": "2025-05-14T10:00:00+02:00",
                        "tag": "not a tag!",
                    }
                ]
            },
            "sessions",
        ),
    ],
    ids=["primary-digits-only", "alias-with-hyphen", "session-tag"],
)
async def test_invalid_hashtags_are_refused(api: Any, fields: dict[str, Any], named: str) -> None:
    organiser = await api.user("olga", "organiser")
    response = await api.http.post(
        "/api/events", json=api.event_body("dk2018", **fields), headers=api.auth(organiser)
    )
    body = assert_error(response, 422, "hashtag")
    assert any(d["field"].startswith(named) for d in body["details"]), body
    assert await api.events() == []


async def test_an_invalid_alias_in_a_change_leaves_the_event_as_it_was(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "dk2018", aliases=["dk18"])
    response = await api.http.patch(
        "/api/events/dk2018",
        json={"name": "Renamed", "aliases": ["ok", "foo-bar"]},
        headers=api.auth(organiser),
    )
    assert_error(response, 422, "aliases")
    event = await api.get_json("/api/events/dk2018")
    assert event["name"] == "Event dk2018"
    assert event["aliases"] == ["dk18"]


async def test_a_conflict_halfway_through_a_change_rolls_all_of_it_back(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "dk2018")
    await api.create_event(organiser, "other")
    # The slug is free, the primary tag is not: nothing of the change may stay.
    response = await api.http.patch(
        "/api/events/dk2018",
        json={"slug": "renamed", "name": "Renamed", "primary_tag": "other"},
        headers=api.auth(organiser),
    )
    assert_error(response, 409, "other")
    event = await api.get_json("/api/events/dk2018")
    assert (event["name"], event["primary_tag"]) == ("Event dk2018", "dk2018")
    assert (await api.http.get("/api/events/renamed")).status_code == 404


async def test_a_taken_primary_tag_is_a_conflict_and_writes_nothing(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "dk2018")
    response = await api.http.post(
        "/api/events",
        json=api.event_body("DK2018", slug="another", name="Copy"),
        headers=api.auth(organiser),
    )
    assert_error(response, 409, "dk2018")
    assert [e["slug"] for e in await api.events()] == ["dk2018"]


async def test_an_invalid_tag_timeline_is_422(api: Any) -> None:
    response = await api.http.get("/api/tags/!!!/timeline")
    assert_error(response, 422, "hashtag")


async def test_moderation_needs_a_moderator(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    attendee = await api.user("alice")
    await api.create_event(organiser, "dk2018")
    post = await api.post(attendee, "hello #dk2018")
    pid = post["id"]
    actions = [
        ("POST", f"/api/events/dk2018/posts/{pid}/hide", {"reason": "mine now"}),
        ("POST", f"/api/events/dk2018/posts/{pid}/pin", None),
        ("POST", "/api/events/dk2018/freeze", None),
        ("POST", "/api/events/dk2018/bans", {"account": "alice"}),
        ("PUT", "/api/events/dk2018/rules", {"rules": {"blocked_words": ["hello"]}}),
        ("GET", "/api/events/dk2018/queue", None),
        ("GET", "/api/events/dk2018/audit", None),
    ]
    for method, path, body in actions:
        anonymous = await api.http.request(method, path, json=body)
        assert_error(anonymous, 401)
        assert anonymous.headers.get("www-authenticate") == "Bearer"
        not_a_moderator = await api.http.request(
            method, path, json=body, headers=api.auth(attendee)
        )
        assert_error(not_a_moderator, 403, "moderator")
    # Nothing changed: the post is still shown, the wall is not frozen, no rules.
    assert api.ids(await api.timeline("dk2018")) == [pid]
    wall = await api.wall("dk2018")
    assert (wall["frozen"], wall["pinned"], api.ids(wall["posts"])) == (False, [], [pid])
    rules = await api.get_json("/api/events/dk2018/rules", organiser)
    assert rules["rules"]["blocked_words"] == []
    assert rules["rules"]["blocked_authors"] == []
    assert await api.get_json("/api/events/dk2018/audit", organiser) == []


async def test_not_approved_posts_are_for_moderators_only(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    attendee = await api.user("alice")
    await api.create_event(organiser, "dk2018", moderation_mode="approve_first")
    await api.post(attendee, "waiting #dk2018")
    for token in (None, attendee):
        response = await api.http.get(
            "/api/events/dk2018/timeline",
            params={"state": "pending"},
            headers=api.auth(token) if token else {},
        )
        assert_error(response, 403, "moderators")


async def test_a_post_to_an_event_that_does_not_exist_is_404(api: Any) -> None:
    token = await api.user("alice")
    response = await api.http.post(
        "/api/events/nope/posts", json={"status": "anyone? #nope"}, headers=api.auth(token)
    )
    assert_error(response, 404, "nope")
    assert await api.tag_timeline("nope") == []
    assert await api.get_json("/api/accounts/alice/timeline") == []


async def test_decisions_on_unknown_things_are_404(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "dk2018")
    response = await api.http.post(
        "/api/events/dk2018/posts/12345/hide", headers=api.auth(organiser)
    )
    assert_error(response, 404, "12345")
    # A post that exists but does not count for this event.
    alice = await api.user("alice")
    elsewhere = await api.post(alice, "unrelated #elsewhere")
    response = await api.http.post(
        f"/api/events/dk2018/posts/{elsewhere['id']}/pin", headers=api.auth(organiser)
    )
    assert_error(response, 404, "does not count")
    assert (await api.wall("dk2018"))["pinned"] == []
    response = await api.http.post("/api/events/nope/freeze", headers=api.auth(organiser))
    assert_error(response, 404, "nope")
    response = await api.http.post(
        "/api/events/dk2018/bans", json={"account": "ghost"}, headers=api.auth(organiser)
    )
    assert_error(response, 404, "ghost")
    assert await api.get_json("/api/events/dk2018/audit", organiser) == []


@pytest.mark.parametrize(
    "header",
    ["Bearer not-a-real-token", "Basic YWxpY2U6c2VjcmV0", "Bearer"],
    ids=["unknown-token", "wrong-scheme", "empty-token"],
)
async def test_a_wrong_token_is_401_and_writes_nothing(api: Any, header: str) -> None:
    await api.user("alice")
    response = await api.http.post(
        "/api/posts", json={"status": "forged #wrongtoken"}, headers={"Authorization": header}
    )
    assert_error(response, 401)
    assert await api.tag_timeline("wrongtoken") == []
    response = await api.http.post(
        "/api/events", json=api.event_body("wrongtoken"), headers={"Authorization": header}
    )
    assert_error(response, 401)
    assert await api.events() == []


async def test_bad_timeline_parameters_are_422(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "dk2018")
    for params in (
        {"limit": "0"},
        {"limit": "1000"},
        {"max_id": "abc"},
        {"since_id": "1", "min_id": "1"},
        {"source": "myspace"},
    ):
        response = await api.http.get("/api/events/dk2018/timeline", params=params)
        assert_error(response, 422)


TOO_BIG = "99999999999999999999"  # 20 digits: more than a signed 64-bit id holds


async def test_ids_out_of_range_are_a_clear_4xx(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "dk2018")
    alice = await api.user("alice")
    await api.post(alice, "existing #dk2018")
    h = api.auth(organiser)
    checks = [
        (await api.http.get(f"/api/posts/{TOO_BIG}"), 404),
        (await api.http.patch(f"/api/posts/{TOO_BIG}", json={"status": "x"}, headers=h), 404),
        (await api.http.delete(f"/api/posts/{TOO_BIG}", headers=h), 404),
        (await api.http.post(f"/api/events/dk2018/posts/{TOO_BIG}/hide", headers=h), 404),
        (await api.http.get("/api/events/dk2018/timeline", params={"max_id": TOO_BIG}), 422),
        (await api.http.get("/api/tags/dk2018/timeline", params={"since_id": TOO_BIG}), 422),
        (await api.http.get("/api/accounts/alice/timeline", params={"min_id": TOO_BIG}), 422),
        (
            await api.http.get("/api/events/dk2018/audit", params={"max_id": TOO_BIG}, headers=h),
            422,
        ),
        (
            await api.http.post(
                "/api/posts",
                json={"status": "reply #dk2018", "in_reply_to_id": TOO_BIG},
                headers=api.auth(alice),
            ),
            422,
        ),
    ]
    for response, status in checks:
        assert_error(response, status)
    assert api.texts(await api.timeline("dk2018")) == ["existing #dk2018"]


async def test_a_nul_character_is_refused_at_the_door(api: Any) -> None:
    # PostgreSQL cannot store NUL in text: without the guard these were 500s there.
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "dk2018")
    alice = await api.user("alice")
    nul = "a\x00b"
    attempts = [
        ("/api/posts", {"status": f"{nul} #dk2018"}, api.auth(alice)),
        ("/api/posts", {"status": "cw #dk2018", "spoiler_text": nul}, api.auth(alice)),
        ("/api/events", api.event_body("nul", name=nul), api.auth(organiser)),
        ("/api/events/dk2018/freeze", {"reason": nul}, api.auth(organiser)),
        ("/api/auth/token", {"username": nul, "password": nul}, {}),
    ]
    statuses = []
    for path, body, headers in attempts:
        response = await api.http.post(path, json=body, headers=headers)
        statuses.append(response.status_code)
    form = await api.http.post("/auth/login", data={"username": nul, "password": nul})
    statuses.append(form.status_code)
    path = await api.http.get("/api/tags/a%00b/timeline")
    statuses.append(path.status_code)
    assert statuses == [400] * len(statuses), statuses
    assert "NUL" in path.json()["error"]
    assert api.texts(await api.timeline("dk2018")) == []


async def test_a_source_that_hands_in_nul_loses_the_character_not_the_post(api: Any) -> None:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "dk2018")
    await api.ingest(
        source_uri="https://remote.example/notes/nul",
        content_html="<p>before\x00after #dk2018</p>",
        spoiler_text="c\x00w",
        author={"acct": "nul@remote.example", "display_name": "N\x00L", "source": "mastodon"},
    )
    [post] = await api.timeline("dk2018")
    assert post["text"] == "beforeafter #dk2018"
    assert post["spoiler_text"] == "cw"
    assert post["account"]["display_name"] == "NL"
