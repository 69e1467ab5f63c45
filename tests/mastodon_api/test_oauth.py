"""Apps and OAuth with Mastodon.py: register, authorise on the consent page (code
flow, with and without PKCE), client credentials, revoke — and scopes enforced."""

from __future__ import annotations

from typing import Any

import pytest
from mastodon import Mastodon
from mastodon.errors import MastodonAPIError, MastodonUnauthorizedError

from support import LiveServer
from support_mastodon import (
    REDIRECT,
    authorise_in_browser,
    client,
    code_from,
    off_loop,
    pkce_pair,
    user_token,
    with_pkce,
)

SCOPES = ["read", "write", "follow"]


async def register(server: LiveServer, **kwargs: Any) -> tuple[str, str]:
    return await off_loop(
        Mastodon.create_app,
        "wall-test",
        scopes=SCOPES,
        redirect_uris=[REDIRECT, "urn:ietf:wg:oauth:2.0:oob"],
        website="https://wall.example",
        api_base_url=server.base_url,
        **kwargs,
    )


async def test_register_authorise_with_pkce_and_use_the_token(
    server: LiveServer, http: Any
) -> None:
    await user_token(server, "alice")
    client_id, client_secret = await register(server)
    app = client(server, client_id=client_id, client_secret=client_secret)
    url = await off_loop(
        app.auth_request_url, redirect_uris=REDIRECT, scopes=SCOPES, state="xyz", allow_http=True
    )
    assert url.startswith(f"{server.base_url}/oauth/authorize?")
    verifier, challenge = pkce_pair()
    redirect = await authorise_in_browser(server, with_pkce(url, challenge), "alice")
    assert redirect.headers["location"].startswith(REDIRECT + "?")
    assert "state=xyz" in redirect.headers["location"]
    code = code_from(redirect)

    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": REDIRECT,
    }
    # Without the verifier the code is refused (and spent).
    refused = await http.post("/oauth/token", data=exchange)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"

    redirect = await authorise_in_browser(server, with_pkce(url, challenge), "alice")
    exchange["code"] = code_from(redirect)
    wrong = await http.post("/oauth/token", data={**exchange, "code_verifier": "x" * 50})
    assert wrong.status_code == 400

    redirect = await authorise_in_browser(server, with_pkce(url, challenge), "alice")
    exchange["code"] = code_from(redirect)
    granted = await http.post("/oauth/token", data={**exchange, "code_verifier": verifier})
    assert granted.status_code == 200, granted.text
    body = granted.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "read write follow"
    # The code was single-use.
    again = await http.post("/oauth/token", data={**exchange, "code_verifier": verifier})
    assert again.status_code == 400

    alice = client(server, body["access_token"])
    me = await off_loop(alice.account_verify_credentials)
    assert me.username == "alice"
    assert (await off_loop(alice.app_verify_credentials)).name == "wall-test"


async def test_mastodon_py_code_flow_and_revoke(server: LiveServer, http: Any) -> None:
    await user_token(server, "bob")
    client_id, client_secret = await register(server)
    app = client(server, client_id=client_id, client_secret=client_secret)
    url = await off_loop(
        app.auth_request_url, redirect_uris=REDIRECT, scopes=SCOPES, allow_http=True
    )
    code = code_from(await authorise_in_browser(server, url, "bob"))
    token = await off_loop(
        app.log_in, code=code, redirect_uri=REDIRECT, scopes=SCOPES, allow_http=True
    )
    assert (await off_loop(app.account_verify_credentials)).username == "bob"

    await off_loop(app.revoke_access_token, allow_http=True)
    # Stops working at once.
    response = await http.get(
        "/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert response.json() == {"error": "The access token is invalid"}


async def test_denying_redirects_with_access_denied(server: LiveServer) -> None:
    await user_token(server, "carol")
    client_id, client_secret = await register(server)
    app = client(server, client_id=client_id, client_secret=client_secret)
    url = await off_loop(
        app.auth_request_url, redirect_uris=REDIRECT, scopes=SCOPES, allow_http=True
    )
    response = await authorise_in_browser(server, url, "carol", approve=False)
    assert response.status_code == 303
    assert "error=access_denied" in response.headers["location"]


async def test_out_of_band_code_is_shown_on_the_page(server: LiveServer) -> None:
    await user_token(server, "dora")
    client_id, client_secret = await register(server)
    app = client(server, client_id=client_id, client_secret=client_secret)
    url = await off_loop(app.auth_request_url, scopes=SCOPES, allow_http=True)
    page = await authorise_in_browser(server, url, "dora")
    assert page.status_code == 200
    code = page.text.split("<code id=code>")[1].split("</code>")[0]
    await off_loop(app.log_in, code=code, scopes=SCOPES, allow_http=True)
    assert (await off_loop(app.account_verify_credentials)).username == "dora"


async def test_unregistered_redirect_uri_is_an_error_page_not_a_redirect(
    server: LiveServer, http: Any
) -> None:
    client_id, _ = await register(server)
    response = await http.get(
        "/oauth/authorize",
        params={
            "client_id": client_id,
            "redirect_uri": "https://evil.example/",
            "response_type": "code",
        },
    )
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_client_credentials_token_is_an_app_not_a_user(server: LiveServer, http: Any) -> None:
    client_id, client_secret = await register(server)
    response = await http.post(
        "/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": "read",
        },
    )
    assert response.status_code == 200, response.text
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    app = await http.get("/api/v1/apps/verify_credentials", headers=headers)
    assert app.status_code == 200 and app.json()["name"] == "wall-test"
    assert "client_secret" not in app.json()
    me = await http.get("/api/v1/accounts/verify_credentials", headers=headers)
    assert me.status_code == 422
    # A scope the app was not registered for is refused.
    wider = await http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": "admin:read",
        },
    )
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    bad_secret = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "no"},
    )
    assert bad_secret.status_code == 401


async def test_app_registration_validates(http: Any) -> None:
    missing = await http.post("/api/v1/apps", data={"redirect_uris": REDIRECT})
    assert missing.status_code == 422 and set(missing.json()) == {"error"}
    bad_scope = await http.post(
        "/api/v1/apps", json={"client_name": "x", "redirect_uris": REDIRECT, "scopes": "read fly"}
    )
    assert bad_scope.status_code == 422 and "fly" in bad_scope.json()["error"]
    bad_uri = await http.post(
        "/api/v1/apps", data={"client_name": "x", "redirect_uris": "javascript:alert(1)"}
    )
    assert bad_uri.status_code == 422
    ok = await http.post(
        "/api/v1/apps", json={"client_name": "x", "redirect_uris": [REDIRECT, "app://cb"]}
    )
    body = ok.json()
    assert body["redirect_uris"] == [REDIRECT, "app://cb"] and body["scopes"] == ["read"]
    assert isinstance(body["client_secret_expires_at"], int)


async def test_metadata_names_the_endpoints(server: LiveServer, http: Any) -> None:
    meta = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert meta["token_endpoint"] == f"{server.base_url}/oauth/token"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "authorization_code" in meta["grant_types_supported"]


@pytest.mark.parametrize(
    ("scopes", "allowed"), [("read", False), ("write:statuses", True), ("write", True)]
)
async def test_scopes_are_enforced(
    server: LiveServer, http: Any, scopes: str, allowed: bool
) -> None:
    token = await user_token(server, "erin", scopes)
    response = await http.post(
        "/api/v1/statuses",
        data={"status": "scoped"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == (200 if allowed else 403), response.text
    if not allowed:
        assert response.json() == {"error": "This action is outside the authorized scopes"}


async def test_unknown_token_is_refused_even_on_public_reads(server: LiveServer) -> None:
    bad = client(server, "not-a-token")
    with pytest.raises(MastodonUnauthorizedError):
        await off_loop(bad.timeline_hashtag, "anything")
    with pytest.raises(MastodonAPIError):
        await off_loop(bad.account_verify_credentials)
