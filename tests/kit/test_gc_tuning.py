"""The server's collector settings (``kit.gc_tuning``), checked in a fresh interpreter:
freezing the test process's own heap would change every test after this one."""

from __future__ import annotations

import subprocess
import sys

from backchannel.kit.gc_tuning import YOUNG_THRESHOLD

_PROBE = """
import gc
from backchannel.kit.gc_tuning import tune_for_server
import backchannel.app  # a server's heap: the application's modules
before = gc.get_threshold()
tune_for_server()
print(gc.get_freeze_count(), *before, *gc.get_threshold())
"""


def test_tuning_freezes_the_startup_heap_and_collects_the_young_less_often() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    frozen, *thresholds = (int(x) for x in out)
    before, after = thresholds[:3], thresholds[3:]
    # Startup made far more than a young generation's worth of long-lived objects.
    assert frozen > YOUNG_THRESHOLD
    assert after == [YOUNG_THRESHOLD, before[1], before[2]]
    assert after[0] > before[0]
