"""Sortable ids: ordered by time, and distinct even for many posts of one past moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backchannel.kit.ids import id_floor, new_id


def test_ids_of_one_past_millisecond_do_not_clash() -> None:
    # A replay or a backfill: thousands of posts stamped with the same past time.
    at = datetime(2026, 7, 4, 14, 38, 6, 240_000, tzinfo=UTC)
    ids = [new_id(at) for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert all(id_floor(at) <= i < id_floor(at + timedelta(milliseconds=1)) for i in ids)


def test_ids_follow_time_and_never_run_ahead_of_now() -> None:
    earlier = new_id(datetime(2020, 1, 1, tzinfo=UTC))
    now = [new_id() for _ in range(1000)]
    assert earlier < now[0]
    assert now == sorted(now) and len(set(now)) == len(now)
    future = new_id(datetime.now(UTC) + timedelta(days=1))
    assert future <= new_id() + (1 << 16) * 1000
