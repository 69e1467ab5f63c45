"""The benchmarks still run: smoke-sized ingest (with its floor server) and fan-out.

Their figures mean little at this size and on a busy CI machine; what is checked is
that every server starts, every post is acknowledged, and the JSON has what the
README says it has.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists() or (os.cpu_count() or 1) < 2,
    reason="the benchmarks read /proc and pin the server and the load to two CPUs",
)


def run(script: str, *args: str, timeout: float = 240) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=BENCH,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_ingest_smoke_with_its_floor(tmp_path: Path) -> None:
    output = tmp_path / "ingest.json"
    run("ingest.py", "--smoke", "--floor", "--duration", "1", "--output", str(output))
    result = json.loads(output.read_text())["results"][0]
    assert result["backend"] == "sqlite"
    assert [c["writers"] for c in result["api"]] == [1, 8]
    assert [c["writers"] for c in result["floor"]] == [1, 8]
    for cell in result["api"] + result["floor"]:
        assert cell["posts"] > 0 and cell["errors"] == 0, cell
    assert result["raw"][0]["rows_per_s"] > 0
    for row in result["ratios"]:
        assert row["ratio_vs_raw_1_conn"] > 0
        assert row["api_vs_floor"] > 0


def test_ingest_repeats_and_gives_the_median_ratio(tmp_path: Path) -> None:
    output = tmp_path / "ingest.json"
    run("ingest.py", "--writers", "64", "--duration", "1", "--repeat", "2", "--output", str(output))
    data = json.loads(output.read_text())
    assert [r["repeat"] for r in data["results"]] == [1, 2]
    [summary] = data["summary"]
    assert summary["backend"] == "sqlite/default"
    runs = [r["target"]["ratio"] for r in data["results"]]
    assert summary["ratios"] == runs and all(r > 0 for r in runs)
    assert min(runs) <= summary["median_ratio"] <= max(runs)
    assert summary["met_by_median"] == (summary["median_ratio"] >= summary["target"])


def test_fanout_smoke(tmp_path: Path) -> None:
    output = tmp_path / "fanout.json"
    run("fanout.py", "--smoke", "--output", str(output))
    data = json.loads(output.read_text())
    servers = {c["server"] for c in data["cells"]}
    assert servers == {"baseline", "backchannel"}
    for cell in data["cells"]:
        assert cell["posts_acknowledged"] > 0, cell
        assert cell["deliveries"] > 0, cell


def test_ingest_profile_counts_the_cost_of_a_post() -> None:
    """In-process, without callgrind (which CI need not have): CPU per post."""
    out = run("ingest_profile.py", "--posts", "64", "--writers", "8")
    result = json.loads(out.strip().splitlines()[-1])
    assert result["posts"] == 64 and result["writers"] == 8
    assert result["cpu_us_per_post"] > 0 and result["posts_per_s"] > 0
