"""The JSON of Status, Account, Tag and Instance: every field PROTOCOL.md lists, with
Mastodon's types; and the instance as Mastodon.py reads it."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from support import LiveServer
from support_mastodon import client, off_loop, user_token

STR, INT, BOOL, LIST, DICT, NONE = str, int, bool, list, dict, type(None)

STATUS = {
    "id": STR,
    "uri": STR,
    "url": (STR, NONE),
    "created_at": STR,
    "account": DICT,
    "content": STR,
    "visibility": STR,
    "sensitive": BOOL,
    "spoiler_text": STR,
    "media_attachments": LIST,
    "mentions": LIST,
    "tags": LIST,
    "emojis": LIST,
    "reblogs_count": INT,
    "favourites_count": INT,
    "replies_count": INT,
    "in_reply_to_id": (STR, NONE),
    "in_reply_to_account_id": (STR, NONE),
    "reblog": (DICT, NONE),
    "poll": (DICT, NONE),
    "card": (DICT, NONE),
    "language": (STR, NONE),
    "edited_at": (STR, NONE),
}
ACCOUNT = {
    "id": STR,
    "username": STR,
    "acct": STR,
    "url": STR,
    "uri": STR,
    "display_name": STR,
    "note": STR,
    "avatar": STR,
    "avatar_static": STR,
    "header": STR,
    "header_static": STR,
    "locked": BOOL,
    "fields": LIST,
    "emojis": LIST,
    "bot": BOOL,
    "group": BOOL,
    "discoverable": (BOOL, NONE),
    "created_at": STR,
    "last_status_at": (STR, NONE),
    "statuses_count": INT,
    "followers_count": INT,
    "following_count": INT,
}
TAG = {"name": STR, "url": STR, "history": LIST, "following": BOOL}


def check(entity: dict[str, Any], spec: dict[str, Any], what: str) -> None:
    for name, kind in spec.items():
        assert name in entity, f"{what} lacks {name}"
        assert isinstance(entity[name], kind), f"{what}.{name} = {entity[name]!r}"
        # bool is an int in Python: an int field must not be a bool.
        if kind is INT:
            assert not isinstance(entity[name], bool), f"{what}.{name} is a bool"


async def test_status_account_and_tag_json(server: LiveServer, http: Any) -> None:
    token = await user_token(server, "alice")
    headers = {"Authorization": f"Bearer {token}"}
    posted = await http.post(
        "/api/v1/statuses",
        json={
            "status": "Guten Morgen #DK2018, schön hier",
            "language": "de",
            "spoiler_text": "",
            "sensitive": False,
        },
        headers=headers,
    )
    status = posted.json()
    check(status, STATUS, "Status")
    check(status["account"], ACCOUNT, "Account")
    assert status["language"] == "de" and status["visibility"] == "public"
    assert status["tags"][0]["name"] == "dk2018" and "#" not in status["tags"][0]["name"]
    assert status["account"]["statuses_count"] == 1
    assert status["account"]["last_status_at"] is not None

    me = (await http.get("/api/v1/accounts/verify_credentials", headers=headers)).json()
    check(me, ACCOUNT, "CredentialAccount")
    assert isinstance(me["source"], dict)
    account = (await http.get(f"/api/v1/accounts/{me['id']}")).json()
    check(account, ACCOUNT, "Account")

    tag = (await http.get("/api/v1/tags/dk2018", headers=headers)).json()
    check(tag, TAG, "Tag")
    today = tag["history"][0]
    assert set(today) == {"day", "uses", "accounts"}
    assert all(isinstance(v, str) for v in today.values()) and today["uses"] == "1"


async def test_instance_v1_and_v2(server: LiveServer, http: Any) -> None:
    port = server.base_url.rsplit(":", 1)[1]
    for path in ("/api/v1/instance", "/api/v1/instance/"):
        v1 = (await http.get(path)).json()
        assert v1["version"] == "4.3.0 (compatible; backchannel 0.1.0)"
        assert v1["urls"]["streaming_api"] == f"ws://127.0.0.1:{port}"
        assert v1["uri"] == f"127.0.0.1:{port}"
        assert isinstance(v1["stats"]["user_count"], int)
        assert isinstance(v1["configuration"]["statuses"]["max_characters"], int)
    v2 = (await http.get("/api/v2/instance")).json()
    assert v2["api_versions"] == {"mastodon": 2}
    assert v2["configuration"]["urls"]["streaming"] == f"ws://127.0.0.1:{port}"
    assert v2["version"].startswith("4.3.0")

    # The version check in the constructor is a request: off the loop, like every call.
    anonymous = await off_loop(client, server, version_check_mode="created")
    info = await off_loop(anonymous.instance_v1)
    assert info.urls.streaming_api == f"ws://127.0.0.1:{port}"
    assert await off_loop(anonymous.verify_minimum_version, "4.3.0")
    assert await off_loop(anonymous.stream_healthy)


def test_token_command_prints_a_scoped_token(tmp_path: Path) -> None:
    from backchannel.cli import cli

    env = {"BACKCHANNEL_DATA_DIR": str(tmp_path), "BACKCHANNEL_DATABASE_URL": ""}
    runner = CliRunner()
    made = runner.invoke(cli, ["create-user", "botty"], input="long-enough-pw\n", env=env)
    assert made.exit_code == 0, made.output
    result = runner.invoke(cli, ["token", "botty", "--scopes", "read write:statuses"], env=env)
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    digest = hashlib.sha256(token.encode()).hexdigest()
    with sqlite3.connect(tmp_path / "backchannel.db") as db:
        row = db.execute("SELECT scopes FROM api_tokens WHERE token_hash = ?", (digest,)).fetchone()
    assert row == ("read write:statuses",)
    unknown = runner.invoke(cli, ["token", "nobody"], env=env)
    assert unknown.exit_code != 0 and "nobody" in unknown.output
    bad = runner.invoke(cli, ["token", "botty", "--scopes", "fly"], env=env)
    assert bad.exit_code != 0
