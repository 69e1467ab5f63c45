"""Proxied images on disk: one file per remote URL, named by the URL's SHA-256.

Files are written to a temporary name, flushed and renamed into place, so a crash
never leaves half an image under a real name. The total is capped; when a write goes
over the cap the least recently used files go until the total is under 90 % of it (so
eviction, which rescans the directory, runs once per many writes, not on each).
"Recently used" is kept in memory and, at most every few minutes per file, in the
file's mtime, so the order survives a restart.

Several processes may share the directory: a file another process wrote is adopted
on first use, and eviction counts what is on disk, not only what this process wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from backchannel.media.sniff import sniff

#: Evict down to this share of the cap.
LOW_WATER = 0.9
#: Seconds between two mtime updates of one file (one syscall per hit is wasteful).
TOUCH_EVERY = 300.0
#: A temporary file this old is a leftover of a crash (a live write takes seconds).
STALE_TEMP_SECONDS = 3600.0
_TEMP_PREFIX = ".tmp-"


@dataclass(frozen=True, slots=True)
class CachedImage:
    data: bytes
    content_type: str
    etag: str


@dataclass(slots=True)
class _Entry:
    size: int
    #: Wall-clock time of the last use (the file's mtime after a restart).
    used: float
    #: When ``used`` was last written to the file's mtime.
    touched: float
    etag: str | None = None


def _etag(data: bytes) -> str:
    return '"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"'


def _scan(root: Path, now: float) -> dict[str, tuple[int, float]]:
    """``{key: (size, mtime)}`` of every cached file; removes stale temporary files."""
    found: dict[str, tuple[int, float]] = {}
    if not root.is_dir():
        return found
    for shard in os.scandir(root):
        if not shard.is_dir(follow_symlinks=False):
            continue
        for item in os.scandir(shard.path):
            try:
                stat = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # evicted by another process while we looked
            if item.name.startswith(_TEMP_PREFIX):
                if now - stat.st_mtime > STALE_TEMP_SECONDS:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(item.path)
                continue
            found[item.name] = (stat.st_size, stat.st_mtime)
    return found


class MediaCache:
    """A content cache of images keyed by remote URL, at most ``max_bytes`` on disk."""

    def __init__(
        self, root: Path, max_bytes: int, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._total = 0
        self._opened = False
        self._open_lock = asyncio.Lock()
        self._evict_lock = asyncio.Lock()

    @staticmethod
    def key(url: str) -> str:
        return hashlib.sha256(url.encode()).hexdigest()

    @property
    def total_bytes(self) -> int:
        """What this process believes the cache holds (exact after an eviction)."""
        return self._total

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key

    async def open(self) -> None:
        """Index what is already on disk (once; every other method calls this)."""
        if self._opened:
            return
        async with self._open_lock:
            if self._opened:
                return
            found = await asyncio.to_thread(_scan, self.root, self._clock())
            for key, (size, mtime) in found.items():
                self._entries[key] = _Entry(size, mtime, mtime)
            self._total = sum(size for size, _ in found.values())
            self._opened = True

    async def get(self, key: str) -> CachedImage | None:
        await self.open()
        path = self._path(key)
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            self._forget(key)
            return None
        content_type = sniff(data)
        if content_type is None:
            # Not something this cache wrote (or damaged on disk): drop it, fetch anew.
            self._forget(key)
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(path.unlink)
            return None
        now = self._clock()
        entry = self._entries.get(key)
        if entry is None or entry.size != len(data):
            # Written by another process: adopt it.
            self._forget(key)
            entry = self._entries[key] = _Entry(len(data), now, now)
            self._total += entry.size
        entry.used = now
        if entry.etag is None:
            entry.etag = _etag(data)
        if now - entry.touched > TOUCH_EVERY:
            entry.touched = now
            with contextlib.suppress(OSError):
                await asyncio.to_thread(os.utime, path, (now, now))
        return CachedImage(data, content_type, entry.etag)

    async def put(self, key: str, data: bytes) -> CachedImage:
        """Keep ``data`` (an image ``sniff`` knows) under ``key``; evict if over the cap."""
        content_type = sniff(data)
        if content_type is None:
            raise ValueError("only images that sniff() recognises are cached")
        image = CachedImage(data, content_type, _etag(data))
        await self.open()
        if len(data) > self.max_bytes * LOW_WATER:
            return image  # it would evict everything else and then itself
        try:
            await asyncio.to_thread(self._write, key, data)
        except OSError:
            return image  # a full disk costs the cache, not the request
        now = self._clock()
        self._forget(key)
        self._entries[key] = _Entry(len(data), now, now, image.etag)
        self._total += len(data)
        if self._total > self.max_bytes:
            await self._evict()
        return image

    def _write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise

    def _forget(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._total -= entry.size

    async def _evict(self) -> None:
        async with self._evict_lock:
            if self._total <= self.max_bytes:
                return
            started = self._clock()
            on_disk = await asyncio.to_thread(_scan, self.root, started)
            # Reconcile with the disk: files other processes wrote count too; files
            # that vanished are gone, unless written here while the scan ran.
            for key in [k for k, e in self._entries.items() if e.touched < started]:
                if key not in on_disk:
                    del self._entries[key]
            for key, (size, mtime) in on_disk.items():
                known = self._entries.get(key)
                if known is None:
                    self._entries[key] = _Entry(size, mtime, mtime)
                else:
                    known.size = size
            self._total = sum(e.size for e in self._entries.values())
            victims: list[Path] = []
            target = self.max_bytes * LOW_WATER
            for key in sorted(self._entries, key=lambda k: self._entries[k].used):
                if self._total <= target:
                    break
                victims.append(self._path(key))
                self._forget(key)
            await asyncio.to_thread(_unlink_all, victims)


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
