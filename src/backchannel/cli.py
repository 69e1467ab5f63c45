"""``backchannel``: serve (the default), demo, migrate, create-user, suspend, token, worker,
connector."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from backchannel import __version__
from backchannel.config import Settings
from backchannel.kit.gc_tuning import tune_for_server

console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def server_options(func: F) -> F:
    func = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="BACKCHANNEL_DATA_DIR",
        default=None,
        help="Where the SQLite database and secrets live [env BACKCHANNEL_DATA_DIR; "
        "default ./backchannel-data].",
    )(func)
    func = click.option("--port", type=int, default=None, help="Port to listen on [8000].")(func)
    func = click.option("--host", default=None, help="Address to bind [127.0.0.1].")(func)
    return func


def make_settings(host: str | None, port: int | None, data_dir: Path | None) -> Settings:
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return Settings(**overrides)


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="BACKCHANNEL_DATA_DIR",
    default=None,
    help="The data directory [env BACKCHANNEL_DATA_DIR].",
)


def run_in_transaction(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(session)`` in one committed transaction, for a command; a refusal
    from the services (AppError) is a clear message and a non-zero exit."""
    from backchannel.db.engine import engine_for, make_sessionmaker
    from backchannel.errors import AppError

    async def main() -> T:
        engine = engine_for(settings)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        except AppError as exc:
            raise click.ClickException(exc.message) from exc
        finally:
            await engine.dispose()

    return asyncio.run(main())


def migrate_database(settings: Settings) -> None:
    from backchannel.db.migrate import upgrade

    url = settings.resolved_database_url()
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    with console.status("Migrating the database…"):
        upgrade(url)
    console.print(f"[green]✓[/] database is up to date ({_describe_url(url)})")


def _describe_url(url: str) -> str:
    if url.startswith("sqlite"):
        return "SQLite at " + url.split("///", 1)[1]
    return url.split("@")[-1]


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="backchannel")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """backchannel: one hashtag for your event, a live moderated wall, chronological
    columns, and posts from the Fediverse, Bluesky, blogs and its own users.

    Without a command, it serves (like `backchannel serve`).
    Settings come from options and BACKCHANNEL_* environment variables.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(serve)


@cli.command()
@server_options
def serve(host: str | None = None, port: int | None = None, data_dir: Path | None = None) -> None:
    """Serve an existing data directory (migrating it first)."""
    settings = make_settings(host, port, data_dir)
    migrate_database(settings)
    _run_server(settings)


def _run_server(settings: Settings, before: Callable[[Any], Any] | None = None) -> None:
    import uvicorn

    from backchannel.app import create_app

    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        timeout_graceful_shutdown=3,
        proxy_headers=True,
    )
    server = uvicorn.Server(config)
    try:
        # Bound here, not inside the loop: a port in use is a clear error, no traceback.
        sock = config.bind_socket()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except SystemExit:
        raise click.ClickException(
            f"cannot listen on {settings.host}:{settings.port} (see above); "
            "is another server running there? Choose another --port."
        ) from None

    async def tune_when_started() -> None:
        # After the application's startup, so what it loaded is frozen too.
        while not server.started:
            await asyncio.sleep(0.05)
        tune_for_server()

    async def main() -> None:
        tasks = [asyncio.create_task(server.serve(sockets=[sock]))]
        tuning = asyncio.create_task(tune_when_started())
        if before is not None:
            tasks.append(asyncio.create_task(before(server)))
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if tasks[0] not in done:
            await tasks[0]
        for task in [*tasks[1:], tuning]:
            task.cancel()

    console.print(f"[bold]backchannel {__version__}[/] listening on {settings.public_url()}")
    # uvicorn's own loop (uvloop where installed), as `uvicorn` itself would run us.
    # It matters: the plain asyncio loop leaves Nagle's algorithm on for a socket bound
    # like this one, and every response then waits ~40 ms for a delayed ACK.
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(main())


@cli.command()
@server_options
@click.option(
    "--minutes",
    type=float,
    default=1.0,
    show_default=True,
    help="How long the demo plays posts into the event.",
)
def demo(
    host: str | None = None,
    port: int | None = None,
    data_dir: Path | None = None,
    minutes: float = 1.0,
) -> None:
    """Create a demo event, play posts into it, and serve it."""
    from backchannel.demo import play_demo, prepare_demo

    settings = make_settings(host, port, data_dir)
    migrate_database(settings)
    credentials = asyncio.run(prepare_demo(settings))

    async def player(server: Any) -> None:
        while not server.started:
            await asyncio.sleep(0.05)
        app = server.config.loaded_app
        while not hasattr(app, "state"):
            app = getattr(app, "app", None)
            if app is None:
                return
        _print_demo(settings, credentials)
        await play_demo(app.state.services, minutes * 60, console)

    _run_server(settings, before=player)


def _print_demo(settings: Settings, credentials: dict[str, str]) -> None:
    from backchannel.demo import DEMO_SLUG

    base = settings.public_url()
    console.print()
    console.print("[bold green]The demo event is live.[/] Open:")
    console.print(f"  event page   {base}/events/{DEMO_SLUG}")
    console.print(f"  wall         {base}/events/{DEMO_SLUG}/wall")
    console.print(f"  moderation   {base}/events/{DEMO_SLUG}/moderate  (sign in as moderator)")
    console.print(f"  columns      {base}/events/{DEMO_SLUG}/columns")
    console.print(f"  poster       {base}/events/{DEMO_SLUG}/poster")
    console.print(f"  slide        {base}/events/{DEMO_SLUG}/slide")
    console.print(f"  API          {base}/api/events/{DEMO_SLUG}  (docs at {base}/docs)")
    console.print(f"  live stream  curl -N {base}/api/streams/events/{DEMO_SLUG}/wall")
    console.print('Sign in with (POST /api/auth/token {"username", "password"}):')
    for name, password in credentials.items():
        console.print(f"  {name:<10} password [bold]{password}[/]")
    console.print("Press Ctrl+C to stop.\n")


@cli.command()
@server_options
def migrate(host: str | None = None, port: int | None = None, data_dir: Path | None = None) -> None:
    """Create or upgrade the database schema."""
    migrate_database(make_settings(host, port, data_dir))


@cli.command("create-user")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["admin", "organiser", "moderator", "attendee"]),
    default="attendee",
    show_default=True,
)
@data_dir_option
def create_user(name: str, role: str, data_dir: Path | None) -> None:
    """Create a local account. The password comes from a prompt, or from stdin."""
    from backchannel.people.models import Role

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        raise click.ClickException("the password needs at least 8 characters")
    settings = make_settings(None, None, data_dir)
    migrate_database(settings)

    async def create(session: Any) -> None:
        from backchannel.people import service as people

        await people.create_local_account(session, name, password, Role(role))

    run_in_transaction(settings, create)
    console.print(f"[green]✓[/] created {role} '{name}'")


@cli.command()
@click.argument("username")
@click.option("--undo", is_flag=True, help="Lift the suspension instead.")
@click.option("--reason", default="", help="Why (written to the log).")
@data_dir_option
def suspend(username: str, undo: bool, reason: str, data_dir: Path | None) -> None:
    """Suspend an account, local (NAME) or remote (NAME@DOMAIN): its tokens and
    sessions stop working at once and its posts are refused. --undo restores it."""
    settings = make_settings(None, None, data_dir)
    migrate_database(settings)

    async def change(session: Any) -> None:
        from backchannel.people import service as people

        account = await people.account_by_acct(session, username)
        if account is None:
            raise click.ClickException(f"no account '{username}'")
        if undo:
            await people.unsuspend(session, account, by=None)
        else:
            await people.suspend(session, account, by=None, reason=reason)

    run_in_transaction(settings, change)
    done = "lifted the suspension of" if undo else "suspended"
    console.print(f"[green]✓[/] {done} '{username}'")


@cli.command()
@click.argument("username")
@click.option(
    "--scopes",
    default="read write follow",
    show_default=True,
    help="Mastodon API scopes, space-separated.",
)
@data_dir_option
def token(username: str, scopes: str, data_dir: Path | None) -> None:
    """Print a new bearer token for USERNAME (bots, scripts, Mastodon apps)."""
    from backchannel.errors import AppError
    from backchannel.mastodon_api.commands import issue_token

    settings = make_settings(None, None, data_dir)
    migrate_database(settings)
    try:
        issued = asyncio.run(issue_token(settings, username, scopes))
    except AppError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(issued)


@cli.group()
def connector() -> None:
    """An event's connectors: Bluesky, Mastodon servers, blogs' feeds."""


@connector.command("add")
@click.argument("event")
@click.argument("kind", type=click.Choice(["bluesky", "mastodon", "feed"]))
@click.argument("target", required=False)
@click.option("--token", help="mastodon: a user access token on that server (read:statuses).")
@click.option(
    "--match",
    type=click.Choice(["all", "tagged"]),
    help="feed: every entry counts (all, the default) or only tagged ones.",
)
@click.option("--poll-seconds", type=float, help="Seconds between two polls at least.")
@data_dir_option
def connector_add(
    event: str,
    kind: str,
    target: str | None,
    token: str | None,
    match: str | None,
    poll_seconds: float | None,
    data_dir: Path | None,
) -> None:
    """Add a connector to EVENT (its slug). TARGET is the Mastodon server or the feed URL;
    Bluesky needs none."""
    from backchannel.connectors import commands

    fields: dict[str, Any] = {"kind": kind}
    if kind in ("mastodon", "feed"):
        if not target:
            raise click.UsageError(f"a {kind} connector needs TARGET (the server or feed URL)")
        fields["server" if kind == "mastodon" else "url"] = target
    elif target:
        raise click.UsageError("a bluesky connector takes no TARGET")
    for name, value in (("token", token), ("match", match), ("poll_seconds", poll_seconds)):
        if value is not None:
            fields[name] = value
    settings = make_settings(None, None, data_dir)
    migrate_database(settings)
    added = run_in_transaction(settings, lambda s: commands.add(s, event, fields))
    console.print(
        f"[green]✓[/] added {added['kind']} connector {added['id']} {added['target']}".rstrip()
        + "; a running server picks it up within seconds"
    )


@connector.command("list")
@click.argument("event")
@data_dir_option
def connector_list(event: str, data_dir: Path | None) -> None:
    """EVENT's connectors and their health."""
    from backchannel.connectors import commands

    settings = make_settings(None, None, data_dir)
    migrate_database(settings)
    rows = run_in_transaction(settings, lambda s: commands.listing(s, event))
    out = Console(highlight=False)
    if not rows:
        out.print(f"'{event}' has no connectors yet: backchannel connector add {event} …")
    for row in rows:
        health = row["health"]
        status = health["status"] if row["enabled"] else "off"
        out.print(f"[bold]{row['id']}[/]  {row['kind']}  {row['target'] or ''}  ({status})")
        lag = health["lag_seconds"]
        counts = health["counts"]
        out.print(
            f"    last post: {health['last_post_at'] or '-'}"
            f"   lag: {f'{lag:.1f} s' if lag is not None else '-'}"
            f"   kept {counts.get('kept', 0)} · dropped {counts.get('dropped', 0)}"
            f" · malformed {counts.get('malformed', 0)}"
        )
        if health["last_error"]:
            out.print(f"    last error ({health['last_error_at']}): {health['last_error']}")


@connector.command("remove")
@click.argument("event")
@click.argument("connector_id", type=int)
@data_dir_option
def connector_remove(event: str, connector_id: int, data_dir: Path | None) -> None:
    """Remove connector CONNECTOR_ID from EVENT (its posts stay)."""
    from backchannel.connectors import commands

    settings = make_settings(None, None, data_dir)
    migrate_database(settings)
    run_in_transaction(settings, lambda s: commands.remove(s, event, connector_id))
    console.print(f"[green]✓[/] removed connector {connector_id}")


@connector.command("import-opml")
@click.argument("event")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--match",
    type=click.Choice(["all", "tagged"]),
    default="all",
    show_default=True,
    help="Every entry counts, or only tagged ones.",
)
@data_dir_option
def connector_import_opml(event: str, file: Any, match: str, data_dir: Path | None) -> None:
    """Register every feed of an OPML FILE (- for stdin) with EVENT."""
    from backchannel.connectors import commands

    data = file.read()
    settings = make_settings(None, None, data_dir)
    migrate_database(settings)
    result = run_in_transaction(settings, lambda s: commands.import_opml(s, event, data, match))
    for skipped in result["skipped"]:
        console.print(f"[yellow]-[/] skipped {skipped['url']}: {skipped['reason']}")
    console.print(f"[green]✓[/] added {len(result['added'])} feeds")


@cli.command()
@data_dir_option
@click.option("--concurrency", type=int, default=4, show_default=True, help="Jobs run at once.")
def worker(data_dir: Path | None, concurrency: int) -> None:
    """Run durable jobs (deliveries, connectors, upkeep) in this process."""
    from backchannel.app import build_registry
    from backchannel.db.engine import engine_for, make_sessionmaker
    from backchannel.jobs.worker import run_worker

    settings = make_settings(None, None, data_dir)
    migrate_database(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        engine = engine_for(settings)
        try:
            await run_worker(
                make_sessionmaker(engine), build_registry(), stop=stop, concurrency=concurrency
            )
        finally:
            await engine.dispose()

    console.print(f"[bold]backchannel worker[/] (pid {os.getpid()}) running jobs")
    tune_for_server()
    asyncio.run(main())


def main() -> None:
    cli()
