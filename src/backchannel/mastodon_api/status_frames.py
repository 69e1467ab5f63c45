"""The Mastodon streams' frames: Status JSON, rendered where a stream listens.

Ingest puts a post on the Mastodon channels as it frames it for its own channels, as
the post's JSON (``publish``): rendering a Status costs about as much as storing the
post, and most posts are read by no Mastodon stream at all. A process renders the
Status of a post when one of its own Mastodon streams listens to a channel the post is
on: once per frame for every listener, one query per batch of frames, off the path
that delivers the other channels' frames.

The local and remote streams are views: ``m:public:local`` and ``m:public:remote`` of
``m:public``. The hashtag streams, ``m:hashtag:TAG`` and ``m:hashtag:local:TAG``, are
views of the native tag channel ``tag:TAG``, which ingest fills with the same posts in
the same order: its ``post`` and ``update`` become Mastodon's ``update`` and
``status.update``, its ``delete`` carries the bare id, and boosts (never on a Mastodon
hashtag stream) are skipped; so a post is not stored a second time per tag. A view
keeps its channel's sequence numbers (``Last-Event-ID`` means the same on both) and
skips the frames of the other side's posts (``streams.frames.Skipped``: nothing is
sent for them).

A post deleted (or no longer public) by the time its frame is rendered is skipped:
its ``delete`` frame follows. An edit renders the post as it is then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.kit.tasks import cancel_and_wait
from backchannel.mastodon_api.entities import Renderer
from backchannel.posts.models import Post
from backchannel.streams import channels
from backchannel.streams.frames import Frame, Skipped
from backchannel.streams.hub import StreamHub
from backchannel.streams.service import StreamService

log = logging.getLogger(__name__)

#: The events whose data is a post's JSON, to be shown as its Status.
POST_EVENTS = frozenset({"update", "status.update"})
#: The same, on a native tag channel, and what a Mastodon stream calls its events.
_TAG_POST_EVENTS = frozenset({"post", "update"})
_FROM_TAG = {"post": "update", "update": "status.update"}
_PUBLIC = "m:public"
_TAG = "m:hashtag:"
_LOCAL_TAG = "m:hashtag:local:"

Side = Literal["any", "local", "remote"]


@dataclass(frozen=True, slots=True)
class View:
    """A Mastodon channel as streams read it: the stored channel it shows, and whose
    posts."""

    name: str
    source: str
    side: Side = "any"
    #: The source is a native tag channel (``tag:NAME``), not a Mastodon one.
    native_tag: bool = False

    def event(self, stored: str) -> str:
        """What this view calls an event stored on its source channel."""
        return _FROM_TAG.get(stored, stored) if self.native_tag else stored

    def post_events(self) -> frozenset[str]:
        return _TAG_POST_EVENTS if self.native_tag else POST_EVENTS

    def shows(self, source_kind: object) -> bool:
        if self.side == "any":
            return True
        return (source_kind == "local") == (self.side == "local")


def view_of(channel: str) -> View:
    if channel == f"{_PUBLIC}:local":
        return View(channel, _PUBLIC, "local")
    if channel == f"{_PUBLIC}:remote":
        return View(channel, _PUBLIC, "remote")
    if channel.startswith(_LOCAL_TAG):
        return View(channel, channels.tag(channel.removeprefix(_LOCAL_TAG)), "local", True)
    if channel.startswith(_TAG):
        return View(channel, channels.tag(channel.removeprefix(_TAG)), "any", True)
    return View(channel, channel)


class StatusFrames:
    """A hub of rendered Mastodon frames, fed from the process's hub of stored ones."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        streams: StreamService,
        base_url: str,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._streams = streams
        self._base_url = base_url
        self.hub = StreamHub(self.read_gap, capacity=streams.capacity)
        streams.derived_hubs.append(self.hub)
        self._queue: asyncio.Queue[list[Frame]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    # --- live: from the broker ---------------------------------------------------------

    def deliver(self, frames: list[Frame]) -> None:
        """Take the frames a Mastodon stream here listens for (rendered by a task of
        their own: the broker's delivery to every other stream does not wait)."""
        if not self.hub.channels():
            return
        sources = {view_of(name).source for name in self.hub.channels()}
        wanted = [f for f in frames if f.channel in sources]
        if wanted:
            self._queue.put_nowait(wanted)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mastodon-status-frames")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            frames = await self._queue.get()
            while not self._queue.empty():
                frames.extend(self._queue.get_nowait())
            try:
                views: dict[str, list[View]] = {}
                for name in list(self.hub.channels()):
                    view = view_of(name)
                    views.setdefault(view.source, []).append(view)
                await self.hub.deliver(await self._render(frames, views))
            except Exception:
                # Subscribers find the gap when the next frames come, and fill it from
                # the store.
                log.exception("could not render Mastodon frames")

    # --- from the store: replays and gaps ----------------------------------------------

    async def read_store(
        self, channel: str, after: int, upto: int | None, limit: int
    ) -> list[Frame]:
        view = view_of(channel)
        stored = await self._streams.read_store(view.source, after, upto, limit)
        return await self._render(stored, {view.source: [view]})

    async def read_gap(self, channel: str, after: int, upto: int) -> list[Frame]:
        return await self.read_store(channel, after, upto, upto - after)

    async def read_seqs(self, channels: Sequence[str]) -> list[int]:
        return await self._streams.read_seqs([view_of(c).source for c in channels])

    # --- rendering ---------------------------------------------------------------------

    async def _render(self, frames: list[Frame], views: dict[str, list[View]]) -> list[Frame]:
        """Each frame as each of its channel's ``views`` shows it."""
        # (id, source kind, hidden) of the post a frame carries, else None. The views
        # of one source channel are all of one kind (Mastodon's or a tag's); a tag's
        # views hide boosts, which are then not rendered at all.
        posts: list[tuple[int, object, bool] | None] = []
        for frame in frames:
            shown = views.get(frame.channel)
            if shown and frame.event in shown[0].post_events():
                post = orjson.loads(frame.data)
                hidden = shown[0].native_tag and post.get("reblog_of_uri") is not None
                posts.append((int(post["id"]), post.get("source"), hidden))
            else:
                posts.append(None)
        ids = {found[0] for found in posts if found is not None and not found[2]}
        statuses = await self._statuses(ids) if ids else {}
        out: list[Frame] = []
        for frame, found in zip(frames, posts, strict=True):
            for view in views.get(frame.channel, ()):
                event = view.event(frame.event)
                if found is None:
                    data = frame.data
                    if view.native_tag and frame.event == "delete":
                        data = _bare_id(data)  # Mastodon's delete is the id alone
                    out.append(Frame(view.name, frame.seq, event, data))
                    continue
                status = statuses.get(found[0])
                if status is None or found[2] or not view.shows(found[1]):
                    out.append(Skipped(view.name, frame.seq))
                else:
                    out.append(Frame(view.name, frame.seq, event, status))
        return out

    async def _statuses(self, ids: Iterable[int]) -> dict[int, bytes]:
        """The Status JSON of the posts still here, by id (as anonymous readers see
        them: the streams' frames are shared)."""
        async with self._sessionmaker() as session:
            posts = list(await session.scalars(select(Post).where(Post.id.in_(list(ids)))))
            rendered = await Renderer(session, self._base_url, None).statuses(posts)
        return {post.id: orjson.dumps(status) for post, status in zip(posts, rendered, strict=True)}


def _bare_id(data: bytes) -> bytes:
    """``{"id": "123"}`` (a native delete) as ``123``."""
    return str(orjson.loads(data)["id"]).encode()
