#!/usr/bin/env python
"""Jetstream: events/s through the Bluesky connector against a bare WebSocket client.

* **stream** — the real capture (``tests/data/jetstream/expected_v1.jsonl``) as a
  posts subscriber gets it (post commits, identity and account events: 20 of its 152
  events), repeated to ``--events`` events with rewritten ``time_us`` (the capture's
  own disorder kept) and record keys; every ``1/--tagged``-th post create is given
  ``#benchtag`` (a tag facet and the hashtag in its text).
* **server** — ``tests/support_jetstream.py`` replaying that file over ``/subscribe``,
  in a subprocess on CPU 0, for the whole run.
* **baseline** — a bare ``websockets`` client on CPU 1: ``recv(decode=False)``,
  ``orjson.loads`` and a tag-facet filter per event, nothing else.
* **connector** — ``BlueskyRuntime`` on CPU 1 with a fresh SQLite database (migrated,
  one event whose tag is ``benchtag``), the profile API answered in-process
  (``httpx.MockTransport``): every event parsed and filtered, every tagged post looked
  up, ingested, matched to the event and committed, the cursor saved. A round ends
  when all events are received and every kept post is committed.
* **filter-only** — the same connector with a tag nothing carries: the receive loop
  alone (parse, filter, count, cursor), without the door's work for kept posts.

Both run in turn, ``--rounds`` times, against the same server and bytes; the figures
are the medians. Targets: connector ≥ 0.5× the baseline's events/s and ≥ 20,000
events/s.

    python bench/jetstream.py
    python bench/jetstream.py --events 20000 --rounds 1 --output /tmp/j.json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from _common import (
    HERE,
    RESULTS,
    Server,
    cpu_seconds,
    fmt,
    free_port,
    machine_info,
    now_iso,
    run_and_record,
    self_cpu_seconds,
)
from websockets.asyncio.client import connect

ROOT = HERE.parent
CAPTURE = ROOT / "tests" / "data" / "jetstream" / "expected_v1.jsonl"
SERVER_SCRIPT = ROOT / "tests" / "support_jetstream.py"
POST = "app.bsky.feed.post"
TAG_FEATURE = "app.bsky.richtext.facet#tag"
TAG = "benchtag"
SUBSCRIBE = f"/subscribe?wantedCollections={POST}"
TARGET_RATIO = 0.5
TARGET_EVENTS_PER_S = 20_000
ROUND_TIMEOUT = 600.0


# --------------------------------------------------------------------------- the stream


def build_stream(path: Path, events: int, tagged_every: int) -> dict[str, int]:
    """Write the bench stream to ``path``; returns what it holds."""
    capture = [orjson.loads(line) for line in CAPTURE.read_bytes().splitlines()]
    cycle = [
        e
        for e in capture
        if e["kind"] != "commit" or e["commit"]["collection"] == POST  # a posts subscriber
    ]
    first = min(e["time_us"] for e in cycle)
    span = max(e["time_us"] for e in cycle) - first + 1
    start = int(time.time() * 1_000_000) - 3600 * 1_000_000
    written = tagged = creates = 0
    with path.open("wb") as out:
        n = 0
        while written < events:
            for original in cycle:
                if written >= events:
                    break
                event = orjson.loads(orjson.dumps(original))
                event["time_us"] = start + n * span + (original["time_us"] - first)
                commit = event.get("commit")
                if commit is not None:
                    commit["rkey"] = f"{commit['rkey'][:7]}{n:06d}"
                    record = commit.get("record")
                    if commit["operation"] == "create" and record is not None:
                        creates += 1
                        if creates % tagged_every == 0:
                            tagged += 1
                            text = record.get("text", "")
                            record["text"] = f"{text} #{TAG}"
                            start_byte = len(text.encode()) + 1
                            record.setdefault("facets", []).append(
                                {
                                    "features": [{"$type": TAG_FEATURE, "tag": TAG}],
                                    "index": {
                                        "byteStart": start_byte,
                                        "byteEnd": start_byte + len(TAG) + 1,
                                    },
                                }
                            )
                out.write(orjson.dumps(event) + b"\n")
                written += 1
            n += 1
    return {"events": written, "post_creates": creates, "tagged": tagged}


# --------------------------------------------------------------------------- baseline


async def baseline(url: str, events: int) -> dict[str, Any]:
    wanted = frozenset({TAG})
    matched = 0
    cpu0 = self_cpu_seconds()
    t0 = time.perf_counter()
    async with connect(url + SUBSCRIBE, compression=None, max_size=2**22) as ws:
        for _ in range(events):
            event = orjson.loads(await ws.recv(decode=False))
            record = (event.get("commit") or {}).get("record")
            if record:
                for facet in record.get("facets", ()):
                    for feature in facet.get("features", ()):
                        if feature.get("$type") == TAG_FEATURE and feature["tag"].lower() in wanted:
                            matched += 1
    return _figures("baseline", events, time.perf_counter() - t0, self_cpu_seconds() - cpu0) | {
        "kept": matched
    }


# --------------------------------------------------------------------------- connector


def _profiles(request: httpx.Request) -> httpx.Response:
    actors = request.url.params.get_list("actors")
    views = [{"did": d, "handle": f"{d[8:20]}.bsky.social", "displayName": d[8:14]} for d in actors]
    return httpx.Response(200, json={"profiles": views})


async def connector(url: str, events: int, tags: frozenset[str]) -> dict[str, Any]:
    from backchannel.broker import make_broker
    from backchannel.config import Settings
    from backchannel.connectors.base import CursorStore, RuntimeContext, Spec
    from backchannel.connectors.bluesky import CURSOR_KEY, BlueskyRuntime
    from backchannel.db.engine import make_engine, make_sessionmaker
    from backchannel.db.migrate import upgrade_async
    from backchannel.db.writer import UnitOfWork, Writer
    from backchannel.events import service as events_service
    from backchannel.events.schemas import EventCreate
    from backchannel.kit.clock import utcnow
    from backchannel.kit.http import make_client
    from backchannel.people import service as people

    data_dir = Path(tempfile.mkdtemp(prefix="bc-jetstream-"))
    settings = Settings(
        data_dir=data_dir,
        secret_key="bench-secret",
        base_url="http://127.0.0.1",
        bluesky_jetstream_urls=[url],
        bluesky_api_url="https://public.api.bsky.bench",
        http_allow_private=True,
    )
    database_url = settings.resolved_database_url()
    await upgrade_async(database_url)
    engine = make_engine(database_url)
    sessionmaker = make_sessionmaker(engine)
    broker = make_broker("", "bench")

    async def drop(frames: Any) -> None:
        return None

    await broker.start(drop)
    writer = Writer(sessionmaker, broker, batch_size=settings.write_batch_size)
    await writer.start()
    http = make_client(
        public_url=settings.public_url(),
        allow_private=True,
        transport=httpx.MockTransport(_profiles),
    )

    async def create_event(uow: UnitOfWork) -> None:
        owner = await people.create_local_account(
            uow.session, "organiser", "correct-horse-battery", "organiser"
        )
        now = utcnow()
        data = EventCreate(
            name="Bench event",
            primary_tag=TAG,
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=1),
        )
        await events_service.create_event(uow.session, data, owner)

    await writer.submit(create_event)
    # Warm up as a running server is: one post through the door first (it imports the
    # Mastodon API's bookkeeping, loads the language model, compiles the statements).
    from backchannel.people.schemas import AuthorIn
    from backchannel.posts import service as posts
    from backchannel.posts.models import SourceKind
    from backchannel.posts.schemas import PostIn

    warm = PostIn(
        source=SourceKind.BLUESKY,
        source_uri="at://did:plc:warmup/app.bsky.feed.post/warm",
        author=AuthorIn(source="bluesky", acct="warm.example@bsky.app", actor_uri="did:plc:warmup"),
        text=f"warming up #{TAG}",
    )

    async def warm_up(uow: UnitOfWork) -> None:
        await posts.ingest(uow, warm, base_url=settings.public_url())

    await writer.submit(warm_up)
    ctx = RuntimeContext(settings, sessionmaker, writer, http, CursorStore(sessionmaker, writer))
    spec = Spec("bluesky", "bluesky", "", (), tags)
    runtime = BlueskyRuntime(ctx, spec)
    counts = runtime.health.counts
    cpu0 = self_cpu_seconds()
    t0 = time.perf_counter()
    task = asyncio.create_task(runtime.run())
    try:
        deadline = t0 + ROUND_TIMEOUT
        while counts["received"] < events or runtime.in_flight:
            if task.done():
                task.result()
            if time.perf_counter() > deadline:
                raise TimeoutError(f"connector stuck at {dict(counts)}")
            await asyncio.sleep(0.005)
        wall = time.perf_counter() - t0
        cpu = self_cpu_seconds() - cpu0
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        cursor = await ctx.cursors.get(CURSOR_KEY)
        await http.aclose()
        await writer.stop()
        await broker.stop()
        await engine.dispose()
    return _figures("connector", events, wall, cpu) | {
        "kept": counts["kept"],
        "counts": dict(counts),
        "cursor_saved": cursor is not None,
        "data_dir": str(data_dir),
    }


def _figures(name: str, events: int, wall: float, cpu: float) -> dict[str, Any]:
    return {
        "client": name,
        "events": events,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "events_per_s": round(events / wall, 1),
        "events_per_cpu_s": round(events / cpu, 1) if cpu else None,
        "cpu_util": round(cpu / wall, 3),
    }


# --------------------------------------------------------------------------- the run


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bc-jetstream-bench-"))
    stream_file = workdir / "stream.jsonl"
    stream = build_stream(stream_file, args.events, args.tagged)
    print(f"stream: {stream} in {stream_file}", flush=True)
    port = free_port()
    server = Server(
        [sys.executable, str(SERVER_SCRIPT), "--port", str(port), "--file", str(stream_file)],
        port,
        log=workdir / "server.log",
    ).start()
    url = f"ws://127.0.0.1:{port}"
    rounds: list[dict[str, Any]] = []
    try:
        for n in range(args.rounds):
            for name in args.clients:
                server_cpu0 = cpu_seconds(server.pid)
                print(f"  round {n + 1}: {name} …", flush=True)
                if name == "baseline":
                    cell = await baseline(url, stream["events"])
                else:
                    tags = frozenset({TAG if name == "connector" else "nothingmatches"})
                    cell = await connector(url, stream["events"], tags)
                    cell["client"] = name
                cell["round"] = n + 1
                server_cpu = cpu_seconds(server.pid) - server_cpu0
                cell["server_cpu_util"] = round(server_cpu / cell["wall_s"], 3)
                print(
                    f"    {cell['events_per_s']:,.0f} events/s, "
                    f"{fmt(cell['events_per_cpu_s'], 0)} events/CPU-s, kept {cell['kept']}",
                    flush=True,
                )
                rounds.append(cell)
    finally:
        server.stop()
    summary = summarise(rounds, stream["tagged"])
    return {
        "benchmark": "jetstream",
        "date": now_iso(),
        "machine": machine_info(),
        "settings": {
            "events": stream["events"],
            "post_creates": stream["post_creates"],
            "tagged": stream["tagged"],
            "tagged_every": args.tagged,
            "rounds": args.rounds,
            "clients": args.clients,
            "workdir": str(workdir),
        },
        "rounds": rounds,
        "summary": summary,
    }


def summarise(rounds: list[dict[str, Any]], tagged: int) -> dict[str, Any]:
    def median(client: str, key: str) -> float | None:
        values = [r[key] for r in rounds if r["client"] == client and r[key] is not None]
        return round(statistics.median(values), 1) if values else None

    base, conn = median("baseline", "events_per_s"), median("connector", "events_per_s")
    base_cpu = median("baseline", "events_per_cpu_s")
    conn_cpu = median("connector", "events_per_cpu_s")
    ratio = round(conn / base, 3) if base and conn else None
    ratio_cpu = round(conn_cpu / base_cpu, 3) if base_cpu and conn_cpu else None
    complete = all(r["kept"] == tagged for r in rounds if r["client"] != "filter-only")
    filter_only = median("filter-only", "events_per_s")
    filter_only_cpu = median("filter-only", "events_per_cpu_s")
    return {
        "baseline_events_per_s": base,
        "connector_events_per_s": conn,
        "ratio": ratio,
        "baseline_events_per_cpu_s": base_cpu,
        "connector_events_per_cpu_s": conn_cpu,
        "ratio_per_cpu_s": ratio_cpu,
        "filter_only_events_per_s": filter_only,
        "filter_only_events_per_cpu_s": filter_only_cpu,
        "filter_only_ratio_per_cpu_s": (
            round(filter_only_cpu / base_cpu, 3) if filter_only_cpu and base_cpu else None
        ),
        "every_round_kept_every_tagged_post": complete,
        "targets": {
            "ratio": TARGET_RATIO,
            "events_per_s": TARGET_EVENTS_PER_S,
            "met": bool(
                ratio is not None
                and conn is not None
                and ratio >= TARGET_RATIO
                and conn >= TARGET_EVENTS_PER_S
                and complete
            ),
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument(
        "--tagged", type=int, default=1000, help="every Nth post create carries the tag"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--clients",
        default="baseline,connector,filter-only",
        help="comma-separated: baseline, connector, filter-only (the connector keeping nothing)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "jetstream.json")
    args = parser.parse_args(argv)
    args.clients = [c for c in args.clients.split(",") if c]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("BACKCHANNEL_SQLITE_DRIVER", "inline")
    result = run_and_record(lambda: run(args), args.output)
    s = result["summary"]
    print()
    print(f"baseline   {fmt(s['baseline_events_per_s'], 0):>10} events/s")
    print(
        f"connector  {fmt(s['connector_events_per_s'], 0):>10} events/s   "
        f"ratio {fmt(s['ratio'], 3)} (per CPU-s {fmt(s['ratio_per_cpu_s'], 3)})"
    )
    print(
        f"filter-only{fmt(s['filter_only_events_per_s'], 0):>10} events/s   "
        f"per CPU-s vs baseline {fmt(s['filter_only_ratio_per_cpu_s'], 3)}"
    )
    t = s["targets"]
    print(
        f"targets: ratio >= {t['ratio']}, >= {t['events_per_s']:,} events/s: "
        f"{'met' if t['met'] else 'MISSED'}"
    )
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
