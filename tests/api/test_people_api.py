"""The people API: tokens, the current account, and admins creating accounts."""

from __future__ import annotations

from typing import Any

PASSWORD = "correct-horse-battery"


async def sign_in(api: Any, username: str, password: str = PASSWORD) -> Any:
    return await api.http.post("/api/auth/token", json={"username": username, "password": password})


async def test_a_password_gets_a_token_that_works_until_revoked(api: Any) -> None:
    await api.user("alice")
    response = await sign_in(api, "Alice")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["account"]["username"] == "alice"
    token = body["access_token"]

    me = await api.get_json("/api/me", token)
    assert (me["username"], me["role"], me["acct"]) == ("alice", "attendee", "alice")
    assert me["url"].endswith("/@alice")
    await api.post(token, "signed in #peopleapi")

    response = await api.http.delete("/api/auth/token", headers=api.auth(token))
    assert response.status_code == 204
    response = await api.http.get("/api/me", headers=api.auth(token))
    assert response.status_code == 401
    assert response.json()["error"]
    # Another token of the same account is not affected.
    other = (await sign_in(api, "alice")).json()["access_token"]
    assert (await api.get_json("/api/me", other))["username"] == "alice"


async def test_wrong_credentials_get_the_same_answer(api: Any) -> None:
    await api.user("alice")
    wrong_password = await sign_in(api, "alice", "wrong-password")
    no_such_user = await sign_in(api, "nobody", PASSWORD)
    for response in (wrong_password, no_such_user):
        assert response.status_code == 401
        assert response.json() == {"error": "wrong username or password"}
    response = await api.http.post("/api/auth/token", json={"username": "alice"})
    assert response.status_code == 422


async def test_me_needs_a_token(api: Any) -> None:
    response = await api.http.get("/api/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    response = await api.http.get("/api/me", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


async def test_an_admin_creates_accounts_that_can_sign_in(api: Any) -> None:
    admin = await api.user("root", "admin")
    response = await api.http.post(
        "/api/accounts",
        json={
            "username": "Olga",
            "password": "a long password",
            "role": "organiser",
            "display_name": "  Olga O.  ",
        },
        headers=api.auth(admin),
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["username"], created["role"], created["display_name"]) == (
        "olga",
        "organiser",
        "Olga O.",
    )
    token = (await sign_in(api, "olga", "a long password")).json()["access_token"]
    assert (await api.get_json("/api/me", token))["role"] == "organiser"
    # The new organiser can do what organisers do.
    await api.create_event(token, "peopleapi")
    shown = await api.get_json("/api/accounts/olga")
    assert shown["display_name"] == "Olga O."


async def test_only_admins_create_accounts(api: Any) -> None:
    body = {"username": "sneaky", "password": PASSWORD, "role": "admin"}
    for role in ("attendee", "moderator", "organiser"):
        token = await api.user(f"a_{role}", role)
        response = await api.http.post("/api/accounts", json=body, headers=api.auth(token))
        assert response.status_code == 403, role
    assert (await api.http.post("/api/accounts", json=body)).status_code == 401
    assert (await sign_in(api, "sneaky")).status_code == 401
    assert (await api.http.get("/api/accounts/sneaky")).status_code == 404


async def test_invalid_accounts_are_refused(api: Any) -> None:
    admin = await api.user("root", "admin")
    await api.user("alice")
    cases = [
        ({"username": "alice", "password": PASSWORD, "role": "attendee"}, 409),
        ({"username": "ALICE", "password": PASSWORD, "role": "attendee"}, 409),
        ({"username": "bad name", "password": PASSWORD, "role": "attendee"}, 422),
        ({"username": "bob", "password": "short", "role": "attendee"}, 422),
        ({"username": "bob", "password": PASSWORD, "role": "king"}, 422),
        ({"username": "bob", "password": PASSWORD}, 422),
    ]
    for body, status in cases:
        response = await api.http.post("/api/accounts", json=body, headers=api.auth(admin))
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]
    assert (await api.http.get("/api/accounts/bob")).status_code == 404


async def test_remote_accounts_are_shown_without_a_role(api: Any) -> None:
    await api.ingest(
        source_uri="https://social.example/1",
        content_html="<p>hi #peopleapi</p>",
        author={
            "acct": "Bob@Social.Example",
            "display_name": "Bob",
            "profile_url": "https://social.example/@Bob",
            "source": "mastodon",
        },
    )
    account = await api.get_json("/api/accounts/Bob@social.example")
    assert account["acct"] == "Bob@social.example"
    assert account["domain"] == "social.example"
    assert account["url"] == "https://social.example/@Bob"
    assert account["role"] is None
