"""SSE endpoints: an event's wall and queue, a hashtag, a person — or several at once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request

from backchannel.deps import MaybeAccountDep, ServicesDep
from backchannel.errors import BadRequest, Forbidden, NotFound, Unauthorized
from backchannel.events import service as events_service
from backchannel.people import repository as people_repo
from backchannel.people import service as people
from backchannel.people.models import Account
from backchannel.posts.hashtags import normalize_tag
from backchannel.streams import channels
from backchannel.streams.service import StreamService
from backchannel.streams.sse import EventStream, parse_last_event_id

router = APIRouter(tags=["streams"])

MAX_CHANNELS = 20


def _streams(services: ServicesDep) -> StreamService:
    service: StreamService = services.extra["streams"]
    return service


async def _viewer(
    services: ServicesDep, account: Account | None, access_token: str | None
) -> Account | None:
    # EventSource cannot send headers: a token may come in the query, as Mastodon allows.
    if account is None and access_token:
        async with services.sessionmaker() as session:
            account = await people.account_for_token(session, access_token)
        if account is None:
            raise Unauthorized("the access token is invalid or was revoked")
    return account


async def resolve(spec: str, services: ServicesDep, viewer: Account | None) -> str:
    """``wall:SLUG``, ``queue:SLUG``, ``tag:NAME`` or ``account:ACCT`` → a channel."""
    kind, sep, name = spec.partition(":")
    if not sep or not name:
        raise BadRequest(
            f"'{spec}' is not a stream; use wall:SLUG, queue:SLUG, tag:NAME or account:ACCT"
        )
    async with services.sessionmaker() as session:
        if kind in ("wall", "queue"):
            event = await events_service.require_event(session, name)
            if kind == "wall":
                return channels.event_wall(event.id)
            if viewer is None:
                raise Unauthorized("the moderation queue needs a moderator's sign-in")
            if not await events_service.can_moderate(session, viewer, event):
                raise Forbidden("only this event's moderators see its queue")
            return channels.event_queue(event.id)
        if kind == "tag":
            tag = normalize_tag(name)
            if tag is None:
                raise BadRequest(f"'{name}' is not a valid hashtag")
            return channels.tag(tag)
        if kind == "account":
            account = await people_repo.get_by_acct(session, name.lower().removeprefix("@"))
            if account is None:
                raise NotFound(f"no account '{name}'")
            return channels.account(account.id)
    raise BadRequest(f"unknown stream kind '{kind}'")


async def _open(
    specs: list[str],
    services: ServicesDep,
    account: Account | None,
    access_token: str | None,
    last_event_id: str | None,
) -> EventStream:
    if not specs:
        raise BadRequest("name at least one stream")
    if len(specs) > MAX_CHANNELS:
        raise BadRequest(f"at most {MAX_CHANNELS} streams on one connection")
    viewer = await _viewer(services, account, access_token)
    names = [await resolve(spec, services, viewer) for spec in specs]
    cursors = parse_last_event_id(last_event_id, len(names))
    gate = None
    if viewer is not None and any(spec.startswith("queue:") for spec in specs):
        viewer_id = viewer.id

        async def gate() -> bool:
            # A moderation queue ends when its viewer is suspended (or deleted).
            async with services.sessionmaker() as session:
                return await people.account_by_id(session, viewer_id) is not None

    # Heartbeat at once, so the client and every proxy see the stream is open.
    return _streams(services).open(names, cursors, prelude=b": open\n\n", still_allowed=gate)


LastEventId = Annotated[str | None, Header(alias="Last-Event-ID")]
Token = Annotated[str | None, Query()]


@router.get("/api/streams")
async def multiplexed(
    request: Request,
    services: ServicesDep,
    account: MaybeAccountDep,
    stream: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    access_token: Token = None,
    last_event_id: LastEventId = None,
) -> EventStream:
    """Several streams on one connection (browsers allow six per host)."""
    resume = last_event_id or request.query_params.get("last_event_id")
    return await _open(stream, services, account, access_token, resume)


@router.get("/api/streams/events/{slug}/wall")
async def wall(
    slug: str,
    request: Request,
    services: ServicesDep,
    account: MaybeAccountDep,
    access_token: Token = None,
    last_event_id: LastEventId = None,
) -> EventStream:
    resume = last_event_id or request.query_params.get("last_event_id")
    return await _open([f"wall:{slug}"], services, account, access_token, resume)


@router.get("/api/streams/events/{slug}/queue")
async def queue(
    slug: str,
    request: Request,
    services: ServicesDep,
    account: MaybeAccountDep,
    access_token: Token = None,
    last_event_id: LastEventId = None,
) -> EventStream:
    resume = last_event_id or request.query_params.get("last_event_id")
    return await _open([f"queue:{slug}"], services, account, access_token, resume)


@router.get("/api/streams/tags/{tag}")
async def tag(
    tag: str,
    request: Request,
    services: ServicesDep,
    account: MaybeAccountDep,
    access_token: Token = None,
    last_event_id: LastEventId = None,
) -> EventStream:
    resume = last_event_id or request.query_params.get("last_event_id")
    return await _open([f"tag:{tag}"], services, account, access_token, resume)


@router.get("/api/streams/accounts/{acct}")
async def account_stream(
    acct: str,
    request: Request,
    services: ServicesDep,
    account: MaybeAccountDep,
    access_token: Token = None,
    last_event_id: LastEventId = None,
) -> EventStream:
    resume = last_event_id or request.query_params.get("last_event_id")
    return await _open([f"account:{acct}"], services, account, access_token, resume)
