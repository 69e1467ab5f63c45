"""A local Jetstream v1 server for the Bluesky connector's tests and its benchmark.

It speaks the part of Jetstream's ``/subscribe`` wire the connector uses: the query's
``wantedCollections`` (commits of other collections are not sent; identity and account
events always are, as Jetstream does), ``cursor`` (unix microseconds: only events with
``time_us >= cursor`` are sent) and ``maxMessageSizeBytes`` (larger events are not
sent). It replays a list of events as text frames and then waits for more, so a test
can ``publish`` events "live". Tests can make it refuse handshakes or cut a connection
after a number of frames, as a failing host would.

Beside it: builders for Jetstream events (``post_event``, ``delete_event``) and
``FakeBlueskyAPI``, Bluesky's HTTP API (profiles, sign-in, search) as an
``httpx.MockTransport`` handler.

Run as a script it serves a JSON-lines file (the benchmark's server process)::

    python tests/support_jetstream.py --port 6008 --file events.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import http
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
from websockets.asyncio.server import Request, Response, Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

TAG_FEATURE = "app.bsky.richtext.facet#tag"

#: Frames written to the socket at once.
SEND_BATCH = 128


@dataclass(frozen=True)
class _Event:
    time_us: int
    collection: str | None  # None: identity, account, or not parseable (always sent)
    data: bytes


def _index(raw: bytes | str | dict[str, Any]) -> _Event:
    """What the server needs to filter an event, read once when it is added."""
    if isinstance(raw, dict):
        data = orjson.dumps(raw)
    else:
        data = raw.encode() if isinstance(raw, str) else raw
    try:
        event = orjson.loads(data)
        time_us = int(event["time_us"])
        commit = event.get("commit") if event.get("kind") == "commit" else None
        collection = commit.get("collection") if isinstance(commit, dict) else None
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        # Deliberately broken test frames go to everybody, at any cursor.
        return _Event(0, None, data)
    return _Event(time_us, collection if isinstance(collection, str) else None, data)


@dataclass
class Subscription:
    """What one client asked for (the server keeps them all, in order)."""

    path: str
    wanted_collections: list[str]
    cursor: int | None
    max_message_size: int
    sent: int = 0


class JetstreamServer:
    """``async with JetstreamServer(events) as server: … server.url …``"""

    def __init__(self, events: Iterable[bytes | str | dict[str, Any]] = ()) -> None:
        self._events = [_index(e) for e in events]
        self._more = asyncio.Condition()
        self._server: Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self.subscriptions: list[Subscription] = []
        #: Answer every handshake with 503 (a host that is down).
        self.refuse = False
        #: Handshakes refused so far.
        self.refused = 0
        #: Cut the next connection (TCP abort, no close frame) after this many frames.
        self.drop_after: int | None = None
        #: Ignore ``maxMessageSizeBytes`` (a server that sends oversized frames anyway).
        self.ignore_max_size = False

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> JetstreamServer:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            port,
            process_request=self._check,
            compression=None,
            max_size=2**20,
        )
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            # Handlers waiting for more events would wait forever.
            for task in self._handlers:
                task.cancel()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> JetstreamServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def publish(self, *events: bytes | str | dict[str, Any]) -> None:
        """Append events; connected clients get them as live events."""
        async with self._more:
            self._events.extend(_index(e) for e in events)
            self._more.notify_all()

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.refuse:
            self.refused += 1
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "down for a test\n")
        if urlsplit(request.path).path != "/subscribe":
            return connection.respond(http.HTTPStatus.NOT_FOUND, "not found\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        task = asyncio.current_task()
        assert task is not None and ws.request is not None
        self._handlers.add(task)
        try:
            await self._replay(ws)
        except (ConnectionClosed, asyncio.CancelledError):
            return
        finally:
            self._handlers.discard(task)

    async def _replay(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        query = parse_qs(urlsplit(ws.request.path).query)
        cursor = int(query["cursor"][0]) if "cursor" in query else None
        max_size = int(query.get("maxMessageSizeBytes", ["0"])[0])
        sub = Subscription(ws.request.path, query.get("wantedCollections", []), cursor, max_size)
        self.subscriptions.append(sub)
        drop_after, self.drop_after = self.drop_after, None
        wanted = set(sub.wanted_collections)
        position = 0
        while True:
            async with self._more:
                while position >= len(self._events):
                    await self._more.wait()
                batch = self._events[position:]
            position += len(batch)
            frames: list[bytes] = []
            for event in batch:
                if cursor is not None and event.time_us < cursor:
                    continue
                if wanted and event.collection is not None and event.collection not in wanted:
                    continue
                if max_size > 0 and len(event.data) > max_size and not self.ignore_max_size:
                    continue
                if drop_after is not None and sub.sent + len(frames) >= drop_after:
                    await self._send(ws, sub, frames)
                    ws.transport.abort()
                    return
                frames.append(event.data)
                if len(frames) >= SEND_BATCH:
                    await self._send(ws, sub, frames)
                    frames = []
            await self._send(ws, sub, frames)

    @staticmethod
    async def _send(ws: ServerConnection, sub: Subscription, frames: list[bytes]) -> None:
        # Frame many events per write (the protocol object frames them, the context
        # writes and waits for the socket to drain): the benchmark needs a server that
        # sends faster than the connector reads.
        if frames:
            async with ws.send_context():
                for data in frames:
                    ws.protocol.send_text(data)
            sub.sent += len(frames)


def post_event(
    did: str,
    rkey: str,
    text: str = "",
    *,
    time_us: int,
    tags: Iterable[str] = (),
    operation: str = "create",
    **record: Any,
) -> dict[str, Any]:
    """A Jetstream commit of an ``app.bsky.feed.post``; ``tags`` become tag facets
    (as the Bluesky app writes them for hashtags in the text)."""
    body: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "createdAt": "2026-07-04T14:38:06.240Z",
        "langs": ["en"],
        "text": text,
    }
    facets = []
    for tag in tags:
        start = text.encode().find(f"#{tag}".encode())
        index = {"byteStart": max(start, 0), "byteEnd": max(start, 0) + len(tag.encode()) + 1}
        facets.append({"features": [{"$type": TAG_FEATURE, "tag": tag}], "index": index})
    if facets:
        body["facets"] = facets
    body.update(record)
    commit = {
        "rev": f"rev{time_us}",
        "operation": operation,
        "collection": "app.bsky.feed.post",
        "rkey": rkey,
        "record": body,
        "cid": "bafyreiapzyf65cmq55jklpnrihiygze2jmmdqvvkwqeiomd72pbp2iazuu",
    }
    return {"did": did, "time_us": time_us, "kind": "commit", "commit": commit}


def delete_event(did: str, rkey: str, *, time_us: int) -> dict[str, Any]:
    commit = {
        "rev": f"rev{time_us}",
        "operation": "delete",
        "collection": "app.bsky.feed.post",
        "rkey": rkey,
    }
    return {"did": did, "time_us": time_us, "kind": "commit", "commit": commit}


def profile_view(
    did: str, handle: str, name: str = "", *, labels: Iterable[str] = ()
) -> dict[str, Any]:
    return {
        "did": did,
        "handle": handle,
        "displayName": name,
        "avatar": f"https://cdn.bsky.app/img/avatar/plain/{did}/bafkreiavatar@jpeg",
        "labels": [
            {"src": did, "uri": f"at://{did}/app.bsky.actor.profile/self", "val": v} for v in labels
        ],
    }


class FakeBlueskyAPI:
    """Bluesky's public API (profiles) and its signed-in API (sessions, search), as an
    ``httpx.MockTransport`` handler: give ``transport()`` to ``kit.http.make_client``."""

    def __init__(self) -> None:
        self.profiles: dict[str, dict[str, Any]] = {}
        #: Search results, newest first, as ``PostView`` dicts.
        self.search_results: list[dict[str, Any]] = []
        self.app_passwords: dict[str, str] = {}
        self.page_size = 2
        #: Unreachable: every request fails to connect.
        self.down = False
        #: Set to make profile lookups wait (a slow API) until it is set again.
        self.profiles_open = asyncio.Event()
        self.profiles_open.set()
        self.requests: list[httpx.Request] = []

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def calls(self, method: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith(method)]

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path
        if path == "/xrpc/app.bsky.actor.getProfiles":
            await self.profiles_open.wait()
            actors = request.url.params.get_list("actors")
            if len(actors) > 25:
                return httpx.Response(400, json={"error": "InvalidRequest"})
            found = [self.profiles[a] for a in actors if a in self.profiles]
            return httpx.Response(200, json={"profiles": found})
        if path == "/xrpc/com.atproto.server.createSession":
            body = orjson.loads(request.content)
            if self.app_passwords.get(body.get("identifier")) != body.get("password"):
                return httpx.Response(401, json={"error": "AuthenticationRequired"})
            return httpx.Response(200, json={"accessJwt": "session-token", "did": "did:plc:me"})
        if path == "/xrpc/app.bsky.feed.searchPosts":
            if request.headers.get("authorization") != "Bearer session-token":
                return httpx.Response(403, json={"error": "Forbidden"})
            tag = request.url.params.get("tag")
            hits = [
                p
                for p in self.search_results
                if tag in [t.lower() for t in p["record"].get("tags", [])]
            ]
            start = int(request.url.params.get("cursor") or 0)
            page = hits[start : start + self.page_size]
            body = {"posts": page}
            if start + self.page_size < len(hits):
                body["cursor"] = str(start + self.page_size)
            return httpx.Response(200, json=body)
        return httpx.Response(404, json={"error": "NotFound"})


async def _serve_file(port: int, path: str) -> None:
    with open(path, "rb") as f:
        events = [line for line in f.read().splitlines() if line.strip()]
    server = await JetstreamServer(events).start(port)
    print(f"serving {len(events)} events on {server.url}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", required=True, help="JSON lines, one event each")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(_serve_file(args.port, args.file))
    except ImportError:
        asyncio.run(_serve_file(args.port, args.file))


if __name__ == "__main__":
    main()
