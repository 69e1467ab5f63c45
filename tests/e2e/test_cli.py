"""The command line as a user meets it: help, accounts, migrations, the data directory."""

from __future__ import annotations

import signal
import socket
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from support_process import (
    PASSWORD,
    backchannel,
    create_user,
    process_env,
    run_cli,
    serving,
    sign_in,
)

pytestmark = pytest.mark.slow

COMMANDS = ("serve", "demo", "migrate", "create-user", "suspend", "token", "worker")


def test_help_lists_every_command() -> None:
    done = run_cli(backchannel("--help"), process_env())
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout
    assert "one hashtag for your event" in done.stdout
    for command in COMMANDS:
        assert f"  {command} " in done.stdout, f"{command} missing from:\n{done.stdout}"
    for command in COMMANDS:
        sub = run_cli(backchannel(command, "--help"), process_env())
        assert sub.returncode == 0, sub.stderr
        assert sub.stdout.startswith(f"Usage: python -m backchannel {command}"), sub.stdout
    serve_help = run_cli(backchannel("serve", "--help"), process_env()).stdout
    for option in ("--host", "--port", "--data-dir", "BACKCHANNEL_DATA_DIR"):
        assert option in serve_help


async def test_create_user_from_stdin_then_sign_in(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = process_env(data_dir=data)
    create_user(env, "orga", role="organiser")
    async with (
        serving(env, data, tmp_path / "serve.log") as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=10) as client,
    ):
        token = await sign_in(client, "orga")
        me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert me.json()["username"] == "orga"
        assert me.json()["role"] == "organiser"
        wrong = await client.post(
            "/api/auth/token", json={"username": "orga", "password": PASSWORD + "x"}
        )
        assert wrong.status_code == 401


def test_a_short_password_is_refused_clearly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = run_cli(
        backchannel("create-user", "shorty", "--data-dir", data), process_env(), stdin="short\n"
    )
    assert done.returncode != 0
    assert "at least 8 characters" in done.stderr
    assert "Traceback" not in done.stderr
    # Nothing was written: the account does not exist, and may be created properly.
    done = run_cli(
        backchannel("create-user", "shorty", "--data-dir", data), process_env(), stdin=PASSWORD
    )
    assert done.returncode == 0, done.stderr


def test_a_duplicate_user_is_refused_clearly(tmp_path: Path) -> None:
    env = process_env(data_dir=tmp_path)
    create_user(env, "dup")
    done = run_cli(backchannel("create-user", "dup"), env, stdin=PASSWORD)
    assert done.returncode != 0
    assert "Error:" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_role_is_refused(tmp_path: Path) -> None:
    done = run_cli(
        backchannel("create-user", "x", "--role", "emperor", "--data-dir", tmp_path),
        process_env(),
        stdin=PASSWORD,
    )
    assert done.returncode == 2
    assert "emperor" in done.stderr


def _tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _versions(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = run_cli(backchannel("migrate", "--data-dir", data), process_env())
    assert first.returncode == 0, first.stderr
    assert "database is up to date" in first.stderr
    db = data / "backchannel.db"
    tables = _tables(db)
    assert {"alembic_version", "posts", "events", "accounts"} <= tables
    versions = _versions(db)
    assert versions
    second = run_cli(backchannel("migrate", "--data-dir", data), process_env())
    assert second.returncode == 0, second.stderr
    assert "database is up to date" in second.stderr
    assert _tables(db) == tables
    assert _versions(db) == versions


def test_the_data_dir_comes_from_the_environment(tmp_path: Path) -> None:
    data = tmp_path / "from-env"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = process_env(data_dir=data)
    done = run_cli(backchannel("migrate"), env, cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert (data / "backchannel.db").exists()
    assert not (cwd / "backchannel-data").exists()
    create_user(env, "envuser")
    with sqlite3.connect(data / "backchannel.db") as conn:
        names = [row[0] for row in conn.execute("SELECT username FROM accounts")]
    assert "envuser" in names
    # An explicit --data-dir wins over the environment.
    other = tmp_path / "explicit"
    done = run_cli(backchannel("migrate", "--data-dir", other), env, cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert (other / "backchannel.db").exists()


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(
            backchannel("serve", "--port", str(port), "--data-dir", tmp_path), process_env()
        )
    assert done.returncode == 1, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


async def test_serve_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = process_env(data_dir=tmp_path)
    async with serving(env, tmp_path, tmp_path / "serve.log") as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
            assert (await client.get("/api/health")).status_code == 200
        started_at = time.monotonic()
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert server.stop(timeout=15) in (0, -signal.SIGTERM), server.output()
        assert time.monotonic() - started_at < 10
    assert "Traceback" not in server.output()
