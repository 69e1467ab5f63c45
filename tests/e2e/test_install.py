"""A real install: the wheel (not editable) in a fresh venv, then ``backchannel demo``.

If a template, a migration or a data file did not ship in the package, the demo would
not start or its wall would stay empty; this test would fail.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from support import free_port
from support_process import process_env, run_cli, started

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "src" / "backchannel"
COMMANDS = ("serve", "demo", "migrate", "create-user", "worker")


def _check(done: subprocess.CompletedProcess[str], what: str) -> None:
    assert done.returncode == 0, f"{what} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"


def _build_wheel(out: Path) -> Path:
    done = run_cli(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out, REPO],
        process_env(this_code=False),
        timeout=300,
    )
    _check(done, "building the wheel")
    wheels = list(out.glob("backchannel-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _source_files() -> set[str]:
    return {
        "backchannel/" + path.relative_to(SOURCE).as_posix()
        for path in SOURCE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


async def test_the_wheel_installs_and_runs_the_demo(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path / "dist")
    # Everything in the package's source tree ships: code, migrations, templates, data.
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    missing = _source_files() - shipped
    assert not missing, f"not in the wheel: {sorted(missing)}"
    assert any(name.startswith("backchannel/db/migrations/versions/") for name in shipped)

    venv = tmp_path / "venv"
    env = process_env(this_code=False)
    _check(run_cli([sys.executable, "-m", "venv", venv], env, timeout=120), "python -m venv")
    bin_dir = venv / "bin"
    _check(
        run_cli([bin_dir / "python", "-m", "pip", "install", "-q", wheel], env, timeout=600),
        "pip install the wheel",
    )
    home = tmp_path / "home"  # neither the repository nor its src on any path
    home.mkdir()
    where = run_cli(
        [bin_dir / "python", "-c", "import backchannel; print(backchannel.__file__)"],
        env,
        cwd=home,
    )
    _check(where, "importing the installed package")
    installed = Path(where.stdout.strip()).resolve()
    assert installed.is_relative_to(venv.resolve()), installed
    assert (installed.parent / "db" / "migrations" / "versions").is_dir()

    helped = run_cli([bin_dir / "backchannel", "--help"], env, cwd=home)
    _check(helped, "backchannel --help")
    for command in COMMANDS:
        assert f"  {command} " in helped.stdout, helped.stdout

    port = free_port()
    data = tmp_path / "demo-data"
    args = [
        bin_dir / "backchannel",
        "demo",
        "--port",
        str(port),
        "--data-dir",
        data,
        "--minutes",
        "0.2",
    ]
    with started(args, env, tmp_path / "demo.log", port, cwd=home) as demo:
        deadline = time.monotonic() + 90
        posts: list[object] = []
        async with httpx.AsyncClient(base_url=demo.base_url, timeout=5) as client:
            while True:
                if demo.popen.poll() is not None:
                    raise AssertionError(f"the demo exited:\n{demo.output()}")
                output = demo.output()
                if "The demo event is live." in output:
                    try:
                        response = await client.get("/api/events/dsd26/wall")
                    except httpx.TransportError:
                        response = None
                    if response is not None and response.status_code == 200:
                        posts = response.json()["posts"]
                        if posts:
                            break
                if time.monotonic() > deadline:
                    raise AssertionError(f"no demo posts on the wall in 90 s:\n{output}")
                await asyncio.sleep(0.2)
            event = (await client.get("/api/events/dsd26")).json()
            assert event["primary_tag"] == "dsd26"
            assert len(event["sessions"]) == 2
            assert set(event["aliases"]) == {"digitalskills26", "dsday"}
            assert (await client.get("/docs")).status_code == 200
            # The pages render from the installed wheel: templates, static files and
            # the German catalog shipped with it.
            wall = await client.get("/events/dsd26/wall")
            assert wall.status_code == 200 and "#dsd26" in wall.text
            german = await client.get("/events/dsd26", params={"lang": "de"})
            assert german.status_code == 200 and 'lang="de"' in german.text
        output = demo.output()
        for url in (f"http://127.0.0.1:{port}/events/dsd26/wall", "/api/streams/events/"):
            assert url in output, output
        assert "organiser" in output and "moderator" in output
        assert (data / "backchannel.db").exists()
        assert demo.stop(timeout=20) in (0, -15), demo.output()
