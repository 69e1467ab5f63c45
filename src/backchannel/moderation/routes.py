"""Event timelines and walls for everyone; the queue, decisions, rules and audit log
for the event's moderators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.db.writer import UnitOfWork
from backchannel.deps import AccountDep, MaybeAccountDep, ServicesDep, SessionDep
from backchannel.errors import Forbidden, NotFound
from backchannel.events import service as events_service
from backchannel.events.models import Event, ModerationMode
from backchannel.kit.pages import Page
from backchannel.kit.query import MAX_ID, PageDep, SourceParam
from backchannel.moderation import repository as repo
from backchannel.moderation import service
from backchannel.moderation.models import EventPost, PostState
from backchannel.moderation.schemas import Action, Rules
from backchannel.people import service as people_service
from backchannel.people.models import Account
from backchannel.posts import repository as posts_repo
from backchannel.posts.models import Post
from backchannel.posts.schemas import post_json
from backchannel.streams import channels
from backchannel.streams import repository as stream_store
from backchannel.streams.frames import encode

router = APIRouter(tags=["moderation"])

Reason = Annotated[str, StringConstraints(max_length=500)]


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason = ""


class BanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    reason: Reason = ""


class RulesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: Rules = Field(default_factory=Rules)
    moderation_mode: ModerationMode | None = None


async def _event(session: AsyncSession, slug: str) -> Event:
    return await events_service.require_event(session, slug)


async def _moderated_event(session: AsyncSession, slug: str, account: Account) -> Event:
    return await events_service.require_moderated_event(session, slug, account)


def _item(post: Post, ep: EventPost, base: str) -> dict[str, Any]:
    data = post_json(post, base)
    data["moderation"] = {
        "state": ep.state,
        "needs_review": ep.needs_review,
        "pinned": ep.pinned,
        "reason": ep.reason,
    }
    return data


@router.get("/api/events/{slug}/timeline")
async def event_timeline(
    slug: str,
    page: PageDep,
    services: ServicesDep,
    session: SessionDep,
    account: MaybeAccountDep,
    source: SourceParam = None,
    state: Annotated[str, Query(pattern=r"^(approved|pending|hidden|all)$")] = "approved",
) -> list[dict[str, Any]]:
    """The event's posts, newest first. Pending and hidden ones only for moderators."""
    event = await _event(session, slug)
    if state != "approved":
        if account is None or not await events_service.can_moderate(session, account, event):
            raise Forbidden("only this event's moderators see posts that are not approved")
    states = list(PostState) if state == "all" else [PostState(state)]
    rows = await posts_repo.event_timeline(session, event.id, page, states=states, source=source)
    base = services.settings.public_url()
    return [_item(p, ep, base) for p, ep in rows]


@router.get("/api/events/{slug}/wall")
async def wall_snapshot(
    slug: str,
    services: ServicesDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 40,
) -> dict[str, Any]:
    """What a wall shows right now: pinned posts, the newest posts, frozen or not."""
    event = await _event(session, slug)
    base = services.settings.public_url()
    # The cursor is read first: anything committed after it comes on the stream.
    cursor = await stream_store.current_seq(session, channels.event_wall(event.id))
    rows = await posts_repo.event_timeline(session, event.id, Page(limit=limit), on_wall_only=True)
    pinned = await posts_repo.pinned(session, event.id)
    return {
        "frozen": event.frozen_at is not None,
        "pinned": [post_json(p, base) for p in pinned],
        "posts": [post_json(p, base) for p, _ in rows],
        "stream_cursor": cursor,
    }


@router.get("/api/events/{slug}/queue")
async def moderation_queue(
    slug: str, page: PageDep, services: ServicesDep, session: SessionDep, account: AccountDep
) -> list[dict[str, Any]]:
    """Posts waiting for a moderator's look (pending, or shown but not yet reviewed)."""
    event = await _moderated_event(session, slug, account)
    rows = await posts_repo.event_timeline(
        session, event.id, page, states=[PostState.PENDING, PostState.APPROVED], needs_review=True
    )
    base = services.settings.public_url()
    return [_item(p, ep, base) for p, ep in rows]


async def _decide(
    slug: str, post_id: int, action: Action, body: Decision, services: ServicesDep, account: Account
) -> dict[str, Any]:
    base = services.settings.public_url()

    async def write(uow: UnitOfWork) -> dict[str, Any]:
        event = await _moderated_event(uow.session, slug, account)
        post = await posts_repo.get(uow.session, post_id)
        if post is None:
            raise NotFound(f"no post {post_id}")
        post_bytes = encode(post_json(post, base))
        ep = await service.decide_post(uow, event, account, action, post, post_bytes, body.reason)
        return _item(post, ep, base)

    return await services.writer.submit(write)


def _decision_route(action: Action) -> None:
    async def decide(
        slug: str,
        post_id: int,
        services: ServicesDep,
        account: AccountDep,
        body: Decision | None = None,
    ) -> dict[str, Any]:
        return await _decide(slug, post_id, action, body or Decision(), services, account)

    decide.__name__ = f"{action.value}_post"
    decide.__doc__ = f"{action.value.capitalize()} a post on this event's walls (moderators)."
    router.add_api_route(
        f"/api/events/{{slug}}/posts/{{post_id}}/{action.value}", decide, methods=["POST"]
    )


for _action in (Action.APPROVE, Action.HIDE, Action.PIN, Action.UNPIN):
    _decision_route(_action)


@router.post("/api/events/{slug}/bans")
async def ban_author(
    slug: str, body: BanRequest, services: ServicesDep, account: AccountDep
) -> dict[str, Any]:
    """Ban an author from the event: hidden now, and every post of theirs from now on."""

    async def write(uow: UnitOfWork) -> dict[str, Any]:
        event = await _moderated_event(uow.session, slug, account)
        # Remote usernames keep their case (``Gargron@mastodon.social``): only the
        # domain is case-insensitive, as ``account_by_acct`` knows.
        author = await people_service.account_by_acct(uow.session, body.account)
        if author is None:
            raise NotFound(f"no account '{body.account}'")
        hidden = await service.ban(uow, event, account, author, body.reason)
        return {"account": author.acct, "hidden": hidden}

    return await services.writer.submit(write)


@router.delete("/api/events/{slug}/bans/{acct}")
async def unban_author(
    slug: str, acct: str, services: ServicesDep, account: AccountDep
) -> dict[str, Any]:
    async def write(uow: UnitOfWork) -> dict[str, Any]:
        event = await _moderated_event(uow.session, slug, account)
        await service.unban(uow, event, account, acct, "")
        return {"account": acct.lower().removeprefix("@"), "banned": False}

    return await services.writer.submit(write)


async def _set_frozen(
    slug: str, frozen: bool, body: Decision, services: ServicesDep, account: Account
) -> dict[str, Any]:
    base = services.settings.public_url()

    async def write(uow: UnitOfWork) -> dict[str, Any]:
        event = await _moderated_event(uow.session, slug, account)
        await service.set_frozen(
            uow, event, account, frozen, body.reason, lambda p: encode(post_json(p, base))
        )
        return {"frozen": event.frozen_at is not None}

    return await services.writer.submit(write)


@router.post("/api/events/{slug}/freeze")
async def freeze(
    slug: str, services: ServicesDep, account: AccountDep, body: Decision | None = None
) -> dict[str, Any]:
    """Freeze the walls: nothing new appears until unfrozen."""
    return await _set_frozen(slug, True, body or Decision(), services, account)


@router.post("/api/events/{slug}/unfreeze")
async def unfreeze(
    slug: str, services: ServicesDep, account: AccountDep, body: Decision | None = None
) -> dict[str, Any]:
    """Unfreeze the walls: what was approved meanwhile appears."""
    return await _set_frozen(slug, False, body or Decision(), services, account)


@router.get("/api/events/{slug}/rules")
async def get_rules(slug: str, session: SessionDep, account: AccountDep) -> dict[str, Any]:
    event = await _moderated_event(session, slug, account)
    return {"rules": service.rules_of(event).model_dump(), "moderation_mode": event.moderation_mode}


@router.put("/api/events/{slug}/rules")
async def put_rules(
    slug: str, body: RulesUpdate, services: ServicesDep, account: AccountDep
) -> dict[str, Any]:
    """Replace the rules (and optionally the mode). They apply to posts from now on."""

    async def write(uow: UnitOfWork) -> dict[str, Any]:
        event = await _moderated_event(uow.session, slug, account)
        await service.set_rules(uow, event, account, body.rules, body.moderation_mode)
        return {"rules": event.rules, "moderation_mode": event.moderation_mode}

    return await services.writer.submit(write)


@router.get("/api/events/{slug}/audit")
async def audit_log(
    slug: str,
    session: SessionDep,
    account: AccountDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    max_id: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
) -> list[dict[str, Any]]:
    """Who decided what, when and why — newest first."""
    event = await _moderated_event(session, slug, account)
    entries = await repo.audit_log(session, event.id, limit=limit, max_id=max_id)
    return [service.audit_json(e) for e in entries]
