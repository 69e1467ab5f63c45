"""``create_app(settings)``: wires the database, broker, streams, writer and jobs.

Nothing connects at import time; everything starts in the lifespan and stops there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import Receive, Scope, Send

from backchannel import __version__
from backchannel.broker import make_broker
from backchannel.config import Settings
from backchannel.connectors.base import CursorStore, RuntimeContext
from backchannel.connectors.registry import runtime_factories
from backchannel.connectors.supervisor import Supervisor
from backchannel.db.engine import engine_for, make_sessionmaker
from backchannel.db.writer import Writer
from backchannel.deps import Services
from backchannel.errors import install_error_handlers
from backchannel.jobs import repository as jobs_repo
from backchannel.jobs.runner import JobRunner, default_worker_id
from backchannel.jobs.service import JobRegistry
from backchannel.kit.body_limit import BodyLimit
from backchannel.kit.http import make_client
from backchannel.kit.raw_send import SCOPE_KEY as RAW_SEND
from backchannel.mastodon_api import media_jobs
from backchannel.mastodon_api.http import MastodonEdge
from backchannel.mastodon_api.media_uploads import UPLOAD_PATHS
from backchannel.mastodon_api.status_frames import StatusFrames
from backchannel.mastodon_api.token_watch import TokenWatch
from backchannel.posts import hot_write
from backchannel.posts.language import warm_up
from backchannel.streams import jobs as stream_jobs
from backchannel.streams.frames import Frame
from backchannel.streams.service import StreamService

log = logging.getLogger(__name__)


def build_registry() -> JobRegistry:
    """Every job kind this server knows; ``serve`` and ``worker`` share it."""
    registry = JobRegistry()
    stream_jobs.register(registry)
    media_jobs.register(registry)
    return registry


class BackchannelApp(FastAPI):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Before every middleware: streams write their frames with this (kit.raw_send).
        if scope["type"] == "http":
            scope[RAW_SEND] = send
            if hot_write.wants(scope):
                await hot_write.serve(self.state.services, self._full, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _full(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = engine_for(settings)
        sessionmaker = make_sessionmaker(engine)
        broker = make_broker(settings.redis_url, settings.redis_prefix)
        streams = StreamService(
            sessionmaker,
            capacity=settings.stream_buffer_frames,
            heartbeat=settings.sse_heartbeat_seconds,
        )
        token_watch = TokenWatch(sessionmaker, every=settings.stream_token_check_seconds)
        status_frames = StatusFrames(sessionmaker, streams, settings.public_url())
        writer = Writer(
            sessionmaker,
            broker,
            batch_size=settings.write_batch_size,
            gather_seconds=settings.write_gather_ms / 1000,
        )
        registry = build_registry()
        runner: JobRunner | None = None
        if settings.run_jobs_in_process:
            runner = JobRunner(sessionmaker, registry, extra={"settings": settings})
        # The one client for remote URLs (SSRF guard, timeouts, User-Agent).
        http = make_client(
            public_url=settings.public_url(), allow_private=settings.http_allow_private
        )
        services = Services(
            settings=settings,
            engine=engine,
            sessionmaker=sessionmaker,
            broker=broker,
            hub=streams.hub,
            writer=writer,
            wake_jobs=runner.wake if runner else (lambda: None),
            extra={
                "streams": streams,
                "status_frames": status_frames,
                "token_watch": token_watch,
                "registry": registry,
                "http": http,
            },
        )
        app.state.services = services
        # Load the language model now, off the event loop, not on the first post.
        await asyncio.to_thread(warm_up)

        async def deliver(frames: list[Frame]) -> None:
            await streams.hub.deliver(frames)
            status_frames.deliver(frames)

        await broker.start(deliver)
        await streams.start()
        await status_frames.start()
        await token_watch.start()
        await writer.start()
        async with sessionmaker() as session, session.begin():
            await jobs_repo.enqueue(
                session,
                stream_jobs.PRUNE,
                {"retention_hours": settings.stream_retention_hours},
                dedupe_key=f"{stream_jobs.PRUNE}:next",
            )
            await jobs_repo.enqueue(
                session, media_jobs.FORGET, {}, dedupe_key=f"{media_jobs.FORGET}:next"
            )
        if runner is not None:
            await runner.start()
        supervisor = None
        if settings.run_connectors:
            supervisor = Supervisor(
                RuntimeContext(
                    settings, sessionmaker, writer, http, CursorStore(sessionmaker, writer)
                ),
                runtime_factories(),
                holder=default_worker_id(),
                lease_seconds=settings.connectors_lease_seconds,
            )
            services.extra["connectors"] = supervisor
            await supervisor.start()
        try:
            yield
        finally:
            if supervisor is not None:
                await supervisor.stop()
            if runner is not None:
                await runner.stop()
            await streams.stop()
            await status_frames.stop()
            await token_watch.stop()
            await writer.stop()
            await broker.stop()
            await http.aclose()
            await engine.dispose()

    app = BackchannelApp(
        title="backchannel",
        version=__version__,
        summary="One hashtag per event, and everything around it.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.resolved_secret_key(),
        session_cookie="backchannel_session",
        same_site="lax",
        https_only=settings.public_url().startswith("https://"),
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, streamed=UPLOAD_PATHS)
    app.add_middleware(MastodonEdge)  # CORS and rate-limit headers on the Mastodon API

    from backchannel.connectors.routes import router as connectors_router
    from backchannel.events.routes import router as events_router
    from backchannel.mastodon_api.routes import router as mastodon_router
    from backchannel.media import links as media_links
    from backchannel.media.routes import router as media_router
    from backchannel.moderation.routes import router as moderation_router
    from backchannel.people.routes import router as people_router
    from backchannel.posts.routes import router as posts_router
    from backchannel.streams.routes import router as streams_router
    from backchannel.web.routes import router as web_router

    for router in (
        people_router,
        events_router,
        posts_router,
        moderation_router,
        streams_router,
        mastodon_router,
        connectors_router,
        web_router,
        media_router,
    ):
        app.include_router(router)
    media_links.register(settings)  # post JSON carries signed /media/ URLs for walls

    @app.get("/api/health", tags=["meta"])
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    return app
