"""Sortable 64-bit ids: milliseconds since the epoch in the high bits, a counter below.

Ordering by id is ordering by time, which is all a chronological timeline needs;
Mastodon's ids have the same shape, so its clients page through ours unchanged.
"""

from __future__ import annotations

import os
import random
import threading
import time
from datetime import datetime

_SEQUENCE_BITS = 16
#: Seeded from the OS (``random.Random()`` is): the starts only need to differ between
#: processes, and ``secrets`` asks the kernel on every call (2 % of ingest's time).
_random = random.Random()
if hasattr(os, "register_at_fork"):  # a forked worker must not start where its parent does
    os.register_at_fork(after_in_child=_random.seed)
_lock = threading.Lock()
_last_ms = 0
_sequence = 0
#: For ids of past times: a counter (from a random start) instead of a random number,
#: so posts of one past millisecond (a replay, a backfill, clients that round their
#: clock) get different ids in this process — 1,200 random 16-bit draws in one
#: millisecond would clash about ten times.
_past_sequence = _random.getrandbits(_SEQUENCE_BITS)


def new_id(at: datetime | None = None) -> int:
    """A new id for something created ``at`` (default now), unique in this process.

    Ids for posts that were created in the past (a connector's backfill) carry that
    time, so they sort where they belong; they never carry a time in the future.
    """
    global _last_ms, _sequence, _past_sequence
    now_ms = int(time.time() * 1000)
    ms = now_ms if at is None else min(int(at.timestamp() * 1000), now_ms)
    with _lock:
        if at is None and ms <= _last_ms:
            ms = _last_ms
            _sequence += 1
            if _sequence >= 1 << _SEQUENCE_BITS:
                ms += 1
                _sequence = 0
        elif at is None:
            # A random start makes clashes between processes in one millisecond unlikely.
            _sequence = _random.getrandbits(_SEQUENCE_BITS - 2)
        else:
            _past_sequence = (_past_sequence + 1) & ((1 << _SEQUENCE_BITS) - 1)
            return (ms << _SEQUENCE_BITS) | _past_sequence
        _last_ms = ms
        return (ms << _SEQUENCE_BITS) | _sequence


def id_floor(at: datetime) -> int:
    """The smallest id a post created at ``at`` can have (for time-bounded queries)."""
    return int(at.timestamp() * 1000) << _SEQUENCE_BITS
