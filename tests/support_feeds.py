"""A local feed server for connector tests: Starlette on uvicorn on 127.0.0.1.

Documents are published by path. Each answer carries an ETag (a digest of the body,
unless told otherwise) and a Last-Modified; conditional requests that match get 304,
as real servers do. Every request is logged, with its conditional headers, so a test
can assert what the client sent. A document can also answer with another status,
after a delay, or not be published at all (404).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from support import free_port

RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
JSON_FEED = "application/feed+json"


@dataclass
class Document:
    body: bytes
    content_type: str = RSS
    status: int = 200
    #: "auto": a digest of the body; None: no ETag header at all.
    etag: str | None = "auto"
    last_modified: datetime | None = None
    #: Seconds to wait before answering (a slow server).
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoggedRequest:
    path: str
    if_none_match: str | None
    if_modified_since: str | None
    status: int


class FeedServer:
    def __init__(self, port: int) -> None:
        self.base_url = f"http://127.0.0.1:{port}"
        self.documents: dict[str, Document] = {}
        self.log: list[LoggedRequest] = []
        self._closing = asyncio.Event()

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def publish(
        self,
        path: str,
        body: bytes,
        content_type: str = RSS,
        *,
        status: int = 200,
        etag: str | None = "auto",
        last_modified: datetime | None = None,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> str:
        """Serve ``body`` at ``path`` (replacing what was there); returns its URL."""
        self.documents[path] = Document(
            body, content_type, status, etag, last_modified, delay, headers or {}
        )
        return self.url(path)

    def requests_for(self, path: str) -> list[LoggedRequest]:
        return [r for r in self.log if r.path == path]

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        document = self.documents.get(path)
        status, response = self._answer(document, request)
        self.log.append(
            LoggedRequest(
                path,
                request.headers.get("if-none-match"),
                request.headers.get("if-modified-since"),
                status,
            )
        )
        if document is not None and document.delay:
            # Waits for the delay, or for the server to close (so tests end quickly).
            try:
                await asyncio.wait_for(self._closing.wait(), document.delay)
            except TimeoutError:
                pass
        return response

    def _answer(self, document: Document | None, request: Request) -> tuple[int, Response]:
        if document is None:
            return 404, Response(b"no such feed", 404, media_type="text/plain")
        headers = dict(document.headers)
        etag = document.etag
        if etag == "auto":
            etag = '"' + hashlib.sha256(document.body).hexdigest()[:16] + '"'
        if etag is not None:
            headers["ETag"] = etag
        if document.last_modified is not None:
            headers["Last-Modified"] = format_datetime(document.last_modified, usegmt=True)
        if document.status != 200:
            return document.status, Response(
                document.body, document.status, headers, document.content_type
            )
        if self._not_modified(request, etag, document.last_modified):
            return 304, Response(status_code=304, headers=headers)
        return 200, Response(document.body, 200, headers, document.content_type)

    @staticmethod
    def _not_modified(request: Request, etag: str | None, last_modified: datetime | None) -> bool:
        # RFC 9110 13.2.2: If-None-Match, when present, decides alone.
        candidates = request.headers.get("if-none-match")
        if candidates is not None:
            return etag is not None and etag in [c.strip() for c in candidates.split(",")]
        since = request.headers.get("if-modified-since")
        if since is None or last_modified is None:
            return False
        try:
            return last_modified.replace(microsecond=0) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False


@asynccontextmanager
async def feed_server() -> AsyncIterator[FeedServer]:
    port = free_port()
    server_state = FeedServer(port)
    app = Starlette(routes=[Route("/{path:path}", server_state.handle)])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + 10
    while not server.started:
        if task.done():
            task.result()
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the feed server did not start")
        await asyncio.sleep(0.01)
    try:
        yield server_state
    finally:
        server_state._closing.set()
        server.should_exit = True
        await asyncio.wait_for(task, 10)
