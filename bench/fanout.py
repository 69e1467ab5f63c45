#!/usr/bin/env python
"""Wall fan-out: backchannel's SSE wall endpoint against a raw Starlette broadcast.

For N SSE clients at R posts/s, in the same invocation, on the same core:

* **backchannel** — ``backchannel serve`` (SQLite in a temp dir), an event created
  through the API, N clients of ``GET /api/streams/events/SLUG/wall``, posts through
  ``POST /api/posts`` with a bearer token (so each post is ingested, committed and
  published by the real pipeline);
* **baseline** — a minimal Starlette app under uvicorn: one ``StreamingResponse``
  generator per client fed by an ``asyncio.Queue`` per client, and a POST endpoint
  that frames the post as SSE once and puts it on every queue.

Both servers run on CPU 0; this process (the SSE clients, raw asyncio protocols, and
the poster) runs on CPU 1. Each post carries ``ts=<perf_counter at send>``; the
client parses it from the received frame for the publish-to-receipt latency. The
server's utime+stime from /proc/PID/stat over the cell gives deliveries per CPU-second.

    python bench/fanout.py                 # the full grid, ~10 s per cell
    python bench/fanout.py --smoke         # 50 clients x 5 posts/s x 3 s
    python bench/fanout.py --clients 1000 --rates 10 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _common import (
    PASSWORD,
    RESULTS,
    Server,
    backchannel_cmd,
    cpu_seconds,
    create_user,
    fmt,
    free_port,
    machine_info,
    now_iso,
    percentile,
    raise_fd_limit,
    run_and_record,
    self_cpu_seconds,
    server_env,
    wait_idle,
)

SLUG = "fanbench"
TAG = "fanbench"
TARGET_CELL = (1000, 10)
TARGET_RATIO = 0.8
TARGET_P99_MS = 250.0
CONNECT_CONCURRENCY = 200
CONNECT_TIMEOUT = 180.0
DRAIN_TIMEOUT = 10.0
WARMUP_TIMEOUT = 30.0

# --------------------------------------------------------------------------- baseline


def baseline_app() -> Any:
    """The raw Starlette broadcast: a queue and a StreamingResponse per client."""
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    queues: set[asyncio.Queue[bytes]] = set()
    state = {"seq": 0}

    async def stream(request: Request) -> StreamingResponse:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        queues.add(queue)

        async def frames() -> Any:
            try:
                yield b": open\n\n"
                while True:
                    yield await queue.get()
            finally:
                queues.discard(queue)

        return StreamingResponse(frames(), media_type="text/event-stream")

    async def post(request: Request) -> JSONResponse:
        body = await request.json()
        state["seq"] += 1
        seq = state["seq"]
        text = body["status"]
        # About the size and shape of backchannel's post JSON, framed once.
        data = {
            "id": str(seq),
            "uri": f"http://127.0.0.1/posts/{seq}",
            "url": f"http://127.0.0.1/@bench/{seq}",
            "source": "local",
            "created_at": "2025-01-01T00:00:00.000000Z",
            "edited_at": None,
            "content": f"<p>{text}</p>",
            "text": text,
            "title": None,
            "language": None,
            "visibility": "public",
            "sensitive": False,
            "spoiler_text": "",
            "in_reply_to_uri": None,
            "reblog_of_uri": None,
            "media_attachments": [],
            "mentions": [],
            "tags": [TAG],
            "account": {
                "id": "1",
                "acct": "bench",
                "username": "bench",
                "display_name": "",
                "avatar": None,
                "url": "http://127.0.0.1/@bench",
                "source": "local",
                "bot": False,
            },
        }
        frame = b"id: %d\nevent: post\ndata: %s\n\n" % (seq, orjson.dumps(data))
        for queue in queues:
            queue.put_nowait(frame)
        return JSONResponse({"id": str(seq)}, status_code=201)

    return Starlette(
        routes=[
            Route(f"/api/streams/events/{SLUG}/wall", stream),
            Route("/api/posts", post, methods=["POST"]),
        ]
    )


def serve_baseline(port: int) -> None:
    import uvicorn

    uvicorn.run(baseline_app(), host="127.0.0.1", port=port, log_level="warning")


# --------------------------------------------------------------------------- load client


class Stats:
    __slots__ = ("latencies", "bytes", "lost")

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.bytes = 0
        self.lost = 0


class SSEClient(asyncio.Protocol):
    """One SSE connection; counts frames carrying ``ts=`` and records their latency."""

    __slots__ = ("request", "stats", "opened", "transport", "buf", "count", "closed")

    def __init__(self, request: bytes, stats: Stats, opened: asyncio.Future[None]) -> None:
        self.request = request
        self.stats = stats
        self.opened = opened
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.count = 0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        stats = self.stats
        stats.bytes += len(data)
        buf = self.buf + data if self.buf else data
        end = buf.rfind(b"\n\n")
        if end < 0:
            self.buf = buf
            return
        self.buf = buf[end + 2 :]
        if not self.opened.done():
            if buf.find(b": open", 0, end) >= 0:
                self.opened.set_result(None)
        # One ts= counted per frame: after a hit, skip to the end of its frame.
        find = buf.find
        i = find(b"ts=", 0, end)
        n = 0
        lat = stats.latencies
        while i >= 0:
            j = find(b" ", i, end)
            lat.append(now - float(buf[i + 3 : j]))
            n += 1
            k = find(b"\n\n", j, end + 2)
            i = find(b"ts=", k, end) if k >= 0 else -1
        self.count += n

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.stats.lost += 1
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed before the stream opened"))

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()


async def connect_clients(port: int, n: int, stats: Stats) -> list[SSEClient]:
    loop = asyncio.get_running_loop()
    request = (
        f"GET /api/streams/events/{SLUG}/wall HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    ).encode()
    clients: list[SSEClient] = []
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one() -> None:
        async with limit:
            opened: asyncio.Future[None] = loop.create_future()
            client = SSEClient(request, stats, opened)
            await loop.create_connection(lambda: client, "127.0.0.1", port)
            clients.append(client)
            await asyncio.wait_for(opened, 60)

    try:
        await asyncio.wait_for(asyncio.gather(*(one() for _ in range(n))), CONNECT_TIMEOUT)
    except BaseException:
        for client in clients:
            client.close()
        raise
    return clients


async def close_clients(clients: list[SSEClient]) -> None:
    for client in clients:
        client.close()
    await asyncio.sleep(0.2)


class Poster:
    def __init__(self, port: int, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers=headers,
            timeout=30.0,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )

    async def post(self, label: str) -> bool:
        ts = time.perf_counter()
        body = {"status": f"Live from the hall, {label} ts={ts:.6f} #{TAG}"}
        try:
            response = await self.client.post("/api/posts", json=body)
        except httpx.HTTPError:
            return False
        return response.status_code in (200, 201)

    async def run(self, rate: float, duration: float) -> tuple[int, int, float]:
        """Post at ``rate`` for ``duration``; returns (sent, acknowledged, seconds)."""
        total = max(1, round(rate * duration))
        start = time.perf_counter()
        tasks = []
        for k in range(total):
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.post(f"post {k}")))
        results = await asyncio.gather(*tasks)
        return total, sum(results), time.perf_counter() - start

    async def close(self) -> None:
        await self.client.aclose()


async def wait_delivered(clients: list[SSEClient], per_client: int, timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if all(c.count >= per_client or c.closed for c in clients):
            break
        await asyncio.sleep(0.01)
    return all(c.count >= per_client for c in clients)


async def run_cell(
    name: str, server: Server, token: str | None, n: int, rate: float, duration: float
) -> dict[str, Any]:
    stats = Stats()
    clients = await connect_clients(server.port, n, stats)
    poster = Poster(server.port, token)
    try:
        # Warm-up: one post that every client must get before the clock starts.
        await poster.post("warm-up")
        warm = await wait_delivered(clients, 1, WARMUP_TIMEOUT)
        await asyncio.sleep(0.3)
        for client in clients:
            client.count = 0
        stats.latencies.clear()
        stats.bytes = 0
        lost_before = stats.lost

        cpu0 = cpu_seconds(server.pid)
        self0 = self_cpu_seconds()
        t0 = time.perf_counter()
        sent, acked, post_seconds = await poster.run(rate, duration)
        complete = await wait_delivered(clients, acked, DRAIN_TIMEOUT)
        wall = time.perf_counter() - t0
        cpu = cpu_seconds(server.pid) - cpu0
        load_cpu = self_cpu_seconds() - self0
    finally:
        await poster.close()
        await close_clients(clients)
    delivered = sum(c.count for c in clients)
    expected = acked * n
    lat = stats.latencies
    return {
        "server": name,
        "clients": n,
        "rate": rate,
        "duration_s": duration,
        "warm_up_delivered_to_all": warm,
        "posts_sent": sent,
        "posts_acknowledged": acked,
        "posting_seconds": round(post_seconds, 3),
        "expected_deliveries": expected,
        "deliveries": delivered,
        "delivered_everything": complete and delivered == expected,
        "connections_lost": stats.lost - lost_before,
        "wall_s": round(wall, 3),
        "server_cpu_s": round(cpu, 3),
        "server_cpu_util": round(cpu / wall, 3) if wall else None,
        "load_cpu_util": round(load_cpu / wall, 3) if wall else None,
        "deliveries_per_cpu_s": round(delivered / cpu, 1) if cpu > 0 else None,
        "bytes_per_delivery": round(stats.bytes / delivered, 1) if delivered else None,
        "latency_ms": {
            "p50": _ms(percentile(lat, 50)),
            "p99": _ms(percentile(lat, 99)),
            "max": _ms(max(lat) if lat else None),
            "samples": len(lat),
        },
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


# --------------------------------------------------------------------------- setup


def start_backchannel(tmp: Path, sqlite_driver: str = "") -> tuple[Server, str]:
    data_dir = tmp / "backchannel"
    env = server_env(data_dir, sqlite_driver=sqlite_driver)
    create_user(data_dir, "organiser", "organiser", env)
    port = free_port()
    server = Server(
        backchannel_cmd("serve", "--port", str(port), "--data-dir", str(data_dir)),
        port,
        env=env,
        log=tmp / "backchannel.log",
    ).start()
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=30) as http:
        response = http.post(
            "/api/auth/token", json={"username": "organiser", "password": PASSWORD}
        )
        response.raise_for_status()
        token = response.json()["access_token"]
        response = http.post(
            "/api/events",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "name": "Fan-out bench",
                "slug": SLUG,
                "primary_tag": TAG,
                "starts_at": "2020-01-01T00:00:00Z",
                "ends_at": "2099-01-01T00:00:00Z",
            },
        )
        response.raise_for_status()
    return server, token


def start_baseline(tmp: Path) -> Server:
    port = free_port()
    return Server(
        [sys.executable, str(Path(__file__).resolve()), "--serve-baseline", str(port)],
        port,
        log=tmp / "baseline.log",
    ).start()


# --------------------------------------------------------------------------- report


def compare(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_key: dict[tuple[int, float], dict[str, dict[str, Any]]] = {}
    for cell in cells:
        by_key.setdefault((cell["clients"], cell["rate"]), {})[cell["server"]] = cell
    rows = []
    for (n, rate), pair in sorted(by_key.items()):
        bc, base = pair.get("backchannel"), pair.get("baseline")
        comparable = bool(
            bc
            and base
            and bc["delivered_everything"]
            and base["delivered_everything"]
            and bc["deliveries_per_cpu_s"]
            and base["deliveries_per_cpu_s"]
        )
        ratio = (
            round(bc["deliveries_per_cpu_s"] / base["deliveries_per_cpu_s"], 3)
            if comparable and bc and base
            else None
        )
        rows.append({"clients": n, "rate": rate, "comparable": comparable, "ratio": ratio})
    return rows


def targets(cells: list[dict[str, Any]], ratios: list[dict[str, Any]]) -> dict[str, Any]:
    n, rate = TARGET_CELL
    row = next((r for r in ratios if r["clients"] == n and r["rate"] == rate), None)
    bc = next(
        (
            c
            for c in cells
            if c["server"] == "backchannel" and (c["clients"], c["rate"]) == (n, rate)
        ),
        None,
    )
    if row is None or bc is None:
        return {"cell": f"{n} clients x {rate} posts/s", "measured": False}
    p99 = bc["latency_ms"]["p99"]
    ratio_ok = row["ratio"] is not None and row["ratio"] >= TARGET_RATIO
    p99_ok = p99 is not None and p99 < TARGET_P99_MS and bc["delivered_everything"]
    return {
        "cell": f"{n} clients x {rate} posts/s",
        "measured": True,
        "ratio": row["ratio"],
        "ratio_target": TARGET_RATIO,
        "ratio_met": ratio_ok,
        "p99_ms": p99,
        "p99_target_ms": TARGET_P99_MS,
        "p99_met": p99_ok,
        "met": ratio_ok and p99_ok,
    }


def print_table(cells: list[dict[str, Any]], ratios: list[dict[str, Any]]) -> None:
    ratio_of = {(r["clients"], r["rate"]): r for r in ratios}
    head = (
        f"{'clients':>7} {'posts/s':>7} {'server':<11} {'deliv/CPU-s':>11} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'all?':>4} {'delivered':>11} {'srv CPU':>7} {'load CPU':>8} {'ratio':>6}"
    )
    print(head)
    print("-" * len(head))
    for cell in sorted(cells, key=lambda c: (c["clients"], c["rate"], c["server"] != "baseline")):
        key = (cell["clients"], cell["rate"])
        ratio = ""
        if cell["server"] == "backchannel":
            r = ratio_of.get(key)
            ratio = fmt(r["ratio"], 2) if r and r["ratio"] is not None else "n/c"
        everything = "yes" if cell["delivered_everything"] else "NO"
        print(
            f"{cell['clients']:>7} {cell['rate']:>7g} {cell['server']:<11} "
            f"{fmt(cell['deliveries_per_cpu_s'], 0):>11} {fmt(cell['latency_ms']['p50']):>8} "
            f"{fmt(cell['latency_ms']['p99']):>8} {everything:>4} "
            f"{cell['deliveries']:>5}/{cell['expected_deliveries']:<5} "
            f"{cell['server_cpu_util']:>7.0%} {cell['load_cpu_util']:>8.0%} {ratio:>6}"
        )


# --------------------------------------------------------------------------- main


async def run(args: argparse.Namespace) -> dict[str, Any]:
    cells: list[dict[str, Any]] = []
    out_dir = Path(tempfile.mkdtemp(prefix="bc-fanout-"))
    baseline = start_baseline(out_dir)
    backchannel: Server | None = None
    try:
        backchannel, token = start_backchannel(out_dir, args.sqlite_driver)
        for n in args.clients:
            for rate in args.rates:
                for name, server, tok in (
                    ("baseline", baseline, None),
                    ("backchannel", backchannel, token),
                ):
                    if not server.alive():
                        raise RuntimeError(f"the {name} server died; see {server.log_path}")
                    await asyncio.to_thread(wait_idle, server.pid)
                    print(f"  {name:<11} {n:>5} clients x {rate:g} posts/s …", flush=True)
                    try:
                        cell = await run_cell(name, server, tok, n, rate, args.duration)
                    except (OSError, TimeoutError, ConnectionError) as exc:
                        cell = failed_cell(name, n, rate, args.duration, exc)
                    cells.append(cell)
                    print(
                        f"    {cell['deliveries']}/{cell['expected_deliveries']} deliveries, "
                        f"{fmt(cell['deliveries_per_cpu_s'], 0)}/CPU-s, "
                        f"p99 {fmt(cell['latency_ms']['p99'])} ms",
                        flush=True,
                    )
    finally:
        baseline.stop()
        if backchannel is not None:
            backchannel.stop()
    ratios = compare(cells)
    return {
        "benchmark": "fanout",
        "date": now_iso(),
        "machine": machine_info(),
        "settings": {
            "clients": args.clients,
            "rates": args.rates,
            "duration_s": args.duration,
            "smoke": args.smoke,
            "sqlite_driver": args.sqlite_driver or "default",
            "warm_up": "one post delivered to every client before each cell",
            "drain_timeout_s": DRAIN_TIMEOUT,
            "logs": str(out_dir),
        },
        "cells": cells,
        "ratios": ratios,
        "targets": targets(cells, ratios),
    }


def failed_cell(
    name: str, n: int, rate: float, duration: float, exc: BaseException
) -> dict[str, Any]:
    return {
        "server": name,
        "clients": n,
        "rate": rate,
        "duration_s": duration,
        "error": f"{type(exc).__name__}: {exc}",
        "expected_deliveries": 0,
        "deliveries": 0,
        "delivered_everything": False,
        "deliveries_per_cpu_s": None,
        "server_cpu_util": 0.0,
        "load_cpu_util": 0.0,
        "latency_ms": {"p50": None, "p99": None, "max": None, "samples": 0},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="100,1000,5000", help="comma-separated")
    parser.add_argument("--rates", default="5,10,50", help="posts/s, comma-separated")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per cell")
    parser.add_argument("--smoke", action="store_true", help="50 clients x 5 posts/s x 3 s")
    parser.add_argument("--output", type=Path, default=None, help="JSON file to write")
    parser.add_argument(
        "--sqlite-driver",
        default="",
        choices=["", "aiosqlite", "inline"],
        help="backchannel's BACKCHANNEL_SQLITE_DRIVER (default: the server's default)",
    )
    parser.add_argument("--serve-baseline", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.clients, args.rates, args.duration = "50", "5", 3.0
    args.clients = [int(x) for x in str(args.clients).split(",") if x]
    args.rates = [float(x) for x in str(args.rates).split(",") if x]
    if args.output is None:
        args.output = RESULTS / ("fanout-smoke.json" if args.smoke else "fanout.json")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_baseline is not None:
        serve_baseline(args.serve_baseline)
        return 0
    limit = raise_fd_limit()
    if max(args.clients) + 100 > limit:
        print(f"warning: the fd limit is {limit}; {max(args.clients)} clients may not fit")
    result = run_and_record(lambda: run(args), args.output)
    print()
    print_table(result["cells"], result["ratios"])
    t = result["targets"]
    if t.get("measured"):
        print(
            f"\ntarget at {t['cell']}: ratio {fmt(t['ratio'], 2)} (>= {TARGET_RATIO}: "
            f"{'met' if t['ratio_met'] else 'MISSED'}), p99 {fmt(t['p99_ms'])} ms "
            f"(< {TARGET_P99_MS:g}: {'met' if t['p99_met'] else 'MISSED'})"
        )
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
