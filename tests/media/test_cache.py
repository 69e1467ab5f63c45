"""The disk cache: whole files only, a total under the cap, the least recently used
go first, and what is on disk survives a restart."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from backchannel.media.cache import STALE_TEMP_SECONDS, MediaCache
from support_media import GIF, png


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1.0  # every use is a moment later than the one before
        return self.now


def _image(n: int, size: int = 10_000) -> bytes:
    """A distinct PNG-looking payload of about ``size`` bytes."""
    return png(rgb=(n % 256, 0, 0)) + bytes([n % 256]) * size


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def test_put_then_get_gives_the_same_bytes(tmp_path: Path) -> None:
    cache = MediaCache(tmp_path, 1_000_000)
    key = MediaCache.key("https://example.org/a.png")
    assert await cache.get(key) is None
    stored = await cache.put(key, png())
    got = await cache.get(key)
    assert got is not None
    assert (got.data, got.content_type, got.etag) == (png(), "image/png", stored.etag)
    # Content-addressed by the URL's hash, and nothing but the image on disk.
    assert [p.name for p in _files(tmp_path)] == [key]
    assert _files(tmp_path)[0].read_bytes() == png()


async def test_the_total_stays_under_the_cap_and_the_least_recently_used_go(
    tmp_path: Path,
) -> None:
    clock = Clock()
    cache = MediaCache(tmp_path, 100_000, clock=clock)
    keys = [MediaCache.key(f"https://example.org/{n}.png") for n in range(30)]
    await cache.put(keys[0], _image(0))
    for n in range(1, 30):
        await cache.put(keys[n], _image(n))
        assert await cache.get(keys[0]) is not None  # keep using the first one
        on_disk = sum(p.stat().st_size for p in _files(tmp_path))
        assert on_disk <= 100_000
        assert cache.total_bytes == on_disk
    assert await cache.get(keys[0]) is not None  # used all along: kept
    assert await cache.get(keys[1]) is None  # the oldest unused one: gone
    assert await cache.get(keys[29]) is not None  # the newest: kept


async def test_an_image_larger_than_the_cache_is_served_not_kept(tmp_path: Path) -> None:
    cache = MediaCache(tmp_path, 20_000)
    key = MediaCache.key("https://example.org/big.png")
    stored = await cache.put(key, _image(1, 50_000))
    assert stored.content_type == "image/png"
    assert _files(tmp_path) == []


async def test_a_restart_finds_the_files_and_their_order(tmp_path: Path) -> None:
    keys = [MediaCache.key(f"https://example.org/{n}.png") for n in range(3)]
    first = MediaCache(tmp_path, 100_000)
    for n, key in enumerate(keys):
        await first.put(key, _image(n, 20_000))
    # Key 0 was used last before the restart (its mtime says so).
    path0 = next(p for p in _files(tmp_path) if p.name == keys[0])
    later = time.time() + 100
    os.utime(path0, (later, later))

    second = MediaCache(tmp_path, 100_000)
    got = await second.get(keys[2])
    assert got is not None and got.data == _image(2, 20_000)
    assert second.total_bytes == sum(len(_image(n, 20_000)) for n in range(3))
    await second.put(MediaCache.key("https://example.org/new.png"), _image(9, 40_000))
    assert await second.get(keys[0]) is not None  # recently used before the restart
    assert await second.get(keys[1]) is None  # the least recently used went


async def test_crash_leftovers_are_never_served_and_are_cleaned_up(tmp_path: Path) -> None:
    key = MediaCache.key("https://example.org/a.png")
    shard = tmp_path / key[:2]
    shard.mkdir()
    # A write that died before its rename leaves a temporary file …
    stale = shard / ".tmp-crashed"
    stale.write_bytes(png()[:20])
    old = time.time() - STALE_TEMP_SECONDS - 10
    os.utime(stale, (old, old))
    fresh = shard / ".tmp-another-process-writing"
    fresh.write_bytes(png()[:20])
    # … and a file under a real name that is not an image is not served either.
    (shard / key).write_bytes(b"<html>half a file</html>")

    cache = MediaCache(tmp_path, 1_000_000)
    assert await cache.get(key) is None
    assert not stale.exists()  # a leftover of a crash
    assert fresh.exists()  # maybe somebody's write in progress
    assert not (shard / key).exists()


async def test_only_images_are_stored(tmp_path: Path) -> None:
    cache = MediaCache(tmp_path, 1_000_000)
    with pytest.raises(ValueError):
        await cache.put(MediaCache.key("x"), b"<svg/>")
    stored = await cache.put(MediaCache.key("y"), GIF)
    assert stored.content_type == "image/gif"
