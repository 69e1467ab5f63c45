"""Read markers with Mastodon.py and plain HTTP: saved per account and timeline, shared
by every app of that account, refused when the id is not one."""

from __future__ import annotations

from typing import Any

from support import LiveServer
from support_mastodon import client, off_loop, user_token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_markers_are_saved_and_shared_between_apps(server: LiveServer) -> None:
    token = await user_token(server, "alice")
    phone, laptop = client(server, token), client(server, token)
    assert await off_loop(phone.markers_get, ["home", "notifications"]) == {}
    saved = await off_loop(phone.markers_set, ["home", "notifications"], ["1234", "55"])
    assert saved.home.last_read_id == "1234" and saved.home.version == 1
    assert saved.notifications.last_read_id == "55"
    moved = await off_loop(laptop.markers_set, "home", "5678")
    assert list(moved) == ["home"] and moved.home.version == 2
    found = await off_loop(phone.markers_get, ["home", "notifications"])
    assert found.home.last_read_id == "5678" and found.notifications.version == 1
    assert found.home.updated_at.year >= 2024
    # Markers are each account's own.
    other = client(server, await user_token(server, "bob"))
    assert await off_loop(other.markers_get, ["home"]) == {}


async def test_markers_over_plain_http(server: LiveServer, http: Any) -> None:
    headers = bearer(await user_token(server, "alice"))
    form = await http.post(
        "/api/v1/markers", data={"notifications[last_read_id]": "42"}, headers=headers
    )
    assert form.status_code == 200, form.text
    assert form.json()["notifications"]["last_read_id"] == "42"
    shown = await http.get(
        "/api/v1/markers",
        params=[("timeline[]", "notifications"), ("timeline[]", "nonsense")],
        headers=headers,
    )
    assert list(shown.json()) == ["notifications"]
    assert (await http.get("/api/v1/markers", headers=headers)).json() == {}
    bad = await http.post("/api/v1/markers", json={"home": {"last_read_id": "x"}}, headers=headers)
    assert bad.status_code == 422 and "home[last_read_id]" in bad.json()["error"]
    # Nothing was half-saved.
    assert "home" not in (await http.get("/api/v1/markers?timeline[]=home", headers=headers)).json()
    unknown = await http.post(
        "/api/v1/markers", json={"lists": {"last_read_id": "1"}}, headers=headers
    )
    assert unknown.status_code == 200 and unknown.json() == {}


async def test_markers_need_statuses_scopes(server: LiveServer, http: Any) -> None:
    reading = bearer(await user_token(server, "alice", scopes="read:statuses"))
    assert (await http.get("/api/v1/markers", headers=reading)).status_code == 200
    refused = await http.post("/api/v1/markers", data={"home[last_read_id]": "1"}, headers=reading)
    assert refused.status_code == 403 and "error" in refused.json()
    assert (await http.get("/api/v1/markers")).status_code == 401
