"""``POST /api/posts`` with a bearer token, answered before the middleware chain.

Bots, bridges and busy apps post here; under load, the middleware chain, FastAPI's
routing and its dependency solving cost about as much CPU as storing the post. A
request this path can take (a bearer token, a JSON body within the limit, no NUL) is
answered here with what the route would answer: the same validation, the same
``routes._create``, the same JSON. Anything else (no token, an unknown token, a body
the model refuses) is handed to the application unchanged, body included, so its
errors keep one source.
"""

from __future__ import annotations

import orjson
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backchannel.deps import Services, token_lookups
from backchannel.errors import AppError, error_body
from backchannel.kit.body_limit import body_has_nul, has_nul
from backchannel.people.models import Account
from backchannel.posts.routes import create
from backchannel.posts.schemas import PostCreate

PATH = "/api/posts"


def wants(scope: Scope) -> bool:
    return bool(scope["path"] == PATH and scope["method"] == "POST")


def _bearer(scope: Scope) -> str | None:
    """The bearer token of a JSON request this path can take, else None."""
    token = None
    json = False
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, rest = value.partition(b" ")
            if scheme.lower() != b"bearer" or not rest.strip():
                return None
            token = rest.strip().decode("latin-1")
        elif name == b"content-type":
            kind = value.partition(b";")[0].strip().lower()
            json = kind == b"application/json" or kind.endswith(b"+json")
        elif name == b"cookie":
            return None  # a page session may be in play: the long way decides
    return token if json else None


async def _read(receive: Receive, limit: int) -> tuple[bytes, list[Message]]:
    """The body (up to ``limit`` + 1 bytes) and the messages it came in."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if size > limit or not message.get("more_body", False):
            break
    return b"".join(m.get("body", b"") for m in messages), messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [
        (b"content-length", str(len(body)).encode()),
        (b"content-type", b"application/json"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _accepted(
    services: Services, scope: Scope, token: str, raw: bytes, complete: bool
) -> tuple[Account, PostCreate] | None:
    """The author and the body of a request this path can take, else None."""
    limit = services.settings.max_body_bytes
    if len(raw) > limit or not complete or has_nul(scope) or body_has_nul(scope, raw):
        return None
    account = await token_lookups(services).owner(token)
    if account is None or account.is_suspended:
        return None
    try:
        return account, PostCreate.model_validate_json(raw)
    except ValidationError:
        return None


async def serve(
    services: Services, app: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> None:
    token = _bearer(scope)
    if token is None:
        await app(scope, receive, send)
        return
    raw, messages = await _read(receive, services.settings.max_body_bytes)
    # Read: from here on, this request is a write on its way to the writer.
    arrival = services.writer.arriving()
    try:
        accepted = await _accepted(
            services, scope, token, raw, messages[-1]["type"] == "http.request"
        )
        if accepted is None:
            arrival.close()  # the long way may take a while: no group waits for it
            await app(scope, _replay(messages, receive), send)
            return
        try:
            data = await create(services, *accepted, arrival=arrival)
        except AppError as exc:
            await _answer(send, exc.status, orjson.dumps(error_body(exc.message, exc.details)))
            return
    finally:
        arrival.close()
    await _answer(send, 201, data)
