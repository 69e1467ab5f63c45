"""The wall in Chromium for a long day: 10,000 posts into one open wall page.

What runs: ``backchannel serve`` (SQLite in a temp dir, CPU 0) with an event created
through the API, and Debian's Chromium (headless, via Playwright) showing
``/events/SLUG/wall``. This process posts through ``POST /api/events/SLUG/posts`` with a
few concurrent writers. A MutationObserver counts the cards the page adds.

Measured: the page's JS heap (CDP ``Runtime.getHeapUsage`` right after a forced
``HeapProfiler.collectGarbage``) after the first 500 posts and after all of them,
the number of post cards and DOM nodes in the page, and whether every post reached it.
Pass: the final heap is within 1.5x of the heap after 500 posts, and nothing was lost.

    /work/venv/bin/python bench/wall_soak.py              # 10,000 posts
    /work/venv/bin/python bench/wall_soak.py --posts 2000 --output bench/results/x.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from _common import (
    PASSWORD,
    RESULTS,
    Server,
    backchannel_cmd,
    create_user,
    free_port,
    machine_info,
    now_iso,
    running,
    server_env,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WARMUP = 500
WRITERS = 8
LIMIT = 1.5
# Counts every card the wall adds; Playwright injects it past the page's CSP.
COUNTER = """
window.__added = 0;
new MutationObserver((records) => {
  for (const r of records) for (const n of r.addedNodes)
    if (n.classList && n.classList.contains("post")) window.__added++;
}).observe(document.getElementById("posts"), { childList: true });
"""


async def _post_range(
    client: httpx.AsyncClient, slug: str, token: str, start: int, end: int
) -> None:
    queue = iter(range(start, end))

    async def writer() -> None:
        for n in queue:
            response = await client.post(
                f"/api/events/{slug}/posts",
                json={
                    "status": f"Soak post {n}: a line of text as long as a real one, more or less."
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            response.raise_for_status()

    await asyncio.gather(*(writer() for _ in range(WRITERS)))


async def _heap(cdp: Any) -> int:
    await cdp.send("HeapProfiler.collectGarbage")
    await cdp.send("HeapProfiler.collectGarbage")
    usage = await cdp.send("Runtime.getHeapUsage")
    return int(usage["usedSize"])


async def _page_stats(page: Any) -> dict[str, int]:
    stats: dict[str, int] = await page.evaluate(
        "({added: window.__added, cards: document.querySelectorAll('#posts > .post').length,"
        " nodes: document.getElementsByTagName('*').length})"
    )
    return stats


async def _wait_added(page: Any, count: int, timeout: float = 120) -> None:
    await page.wait_for_function(f"window.__added >= {count}", timeout=timeout * 1000)


async def soak(base_url: str, token: str, posts: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    now = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        event = {
            "name": "Soak",
            "primary_tag": "soak",
            "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(days=3)).isoformat(),
        }
        headers = {"Authorization": f"Bearer {token}"}
        (await client.post("/api/events", json=event, headers=headers)).raise_for_status()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1920, "height": 1080})
            await page.goto(f"{base_url}/events/soak/wall")
            await page.wait_for_function("document.querySelector('#status').hidden")
            await page.evaluate(COUNTER)
            cdp = await page.context.new_cdp_session(page)
            start_heap = await _heap(cdp)

            started = time.perf_counter()
            await _post_range(client, "soak", token, 0, WARMUP)
            await _wait_added(page, WARMUP)
            warm_heap = await _heap(cdp)
            warm_stats = await _page_stats(page)

            await _post_range(client, "soak", token, WARMUP, posts)
            await _wait_added(page, posts)
            elapsed = time.perf_counter() - started
            await page.wait_for_timeout(2000)  # let the last arrival animations end
            final_heap = await _heap(cdp)
            final_stats = await _page_stats(page)
            await browser.close()
    ratio = final_heap / warm_heap
    return {
        "posts": posts,
        "warmup_posts": WARMUP,
        "seconds": round(elapsed, 1),
        "posts_per_second": round(posts / elapsed, 1),
        "heap_bytes": {
            "page_loaded": start_heap,
            "after_warmup": warm_heap,
            "after_all": final_heap,
        },
        "heap_ratio": round(ratio, 3),
        "limit": LIMIT,
        "page_after_warmup": warm_stats,
        "page_after_all": final_stats,
        "all_posts_arrived": final_stats["added"] >= posts,
        "passed": ratio <= LIMIT and final_stats["added"] >= posts,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--output", type=Path, default=RESULTS / "wall_soak.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wall-soak-"))
    env = server_env(work / "data")
    port = free_port()
    subprocess_cmd = backchannel_cmd("serve", "--port", str(port), "--data-dir", str(work / "data"))
    subprocess_env = {**env, "BACKCHANNEL_BASE_URL": f"http://127.0.0.1:{port}"}
    subprocess.run(
        backchannel_cmd("migrate", "--data-dir", str(work / "data")),
        env=env,
        check=True,
        capture_output=True,
    )
    create_user(work / "data", "soaker", "organiser", env)
    with running(Server(subprocess_cmd, port, env=subprocess_env, log=work / "server.log")):
        base = f"http://127.0.0.1:{port}"
        token = httpx.post(
            f"{base}/api/auth/token", json={"username": "soaker", "password": PASSWORD}
        ).json()["access_token"]
        result = asyncio.run(soak(base, token, args.posts))
    report = {
        "benchmark": "wall_soak",
        "at": now_iso(),
        "machine": machine_info(),
        "logs": str(work),
        **result,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    heap = result["heap_bytes"]
    print(
        f"{result['posts']} posts in {result['seconds']} s; JS heap after {WARMUP}: "
        f"{heap['after_warmup'] / 1e6:.2f} MB, after all: {heap['after_all'] / 1e6:.2f} MB "
        f"(x{result['heap_ratio']}, limit x{LIMIT}); cards in the page: "
        f"{result['page_after_all']['cards']}; DOM nodes: {result['page_after_all']['nodes']}; "
        f"{'PASS' if result['passed'] else 'FAIL'} -> {args.output}"
    )
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
