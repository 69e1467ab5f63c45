"""``/api/v1/statuses``: post (through the one door), read, edit, delete, favourite,
reblog, context. ``Idempotency-Key`` makes a retried post the same post."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.db.writer import UnitOfWork
from backchannel.deps import Services, ServicesDep, SessionDep
from backchannel.errors import Forbidden, NotFound, Unprocessable
from backchannel.kit.ids import new_id
from backchannel.mastodon_api import media, notify, params, polls
from backchannel.mastodon_api import post_queries as queries
from backchannel.mastodon_api import repository as repo
from backchannel.mastodon_api.access import NOT_FOUND, can_see, visible_post
from backchannel.mastodon_api.auth import (
    ReadStatuses,
    UserWriteFavourites,
    UserWriteStatuses,
    account_of,
)
from backchannel.mastodon_api.entities import Renderer
from backchannel.mastodon_api.http import JSON
from backchannel.people.models import Account
from backchannel.posts import repository as posts_repo
from backchannel.posts import service as posts
from backchannel.posts.models import Post, SourceKind, Visibility
from backchannel.posts.schemas import MediaIn, PostIn

router = APIRouter(tags=["mastodon"])

MAX_CHARACTERS = 5000
_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}$")
_VISIBILITIES = {v.value for v in Visibility}


async def _render(services: Services, viewer: Account | None, post_id: int) -> dict[str, Any]:
    async with services.sessionmaker() as session:
        post = await posts_repo.get(session, post_id)
        if post is None:
            raise NotFound(NOT_FOUND)
        base = services.settings.public_url()
        return await Renderer(session, base, viewer).status(post)


def _post_in(
    base: str,
    author: Account,
    post_id: int,
    p: params.Params,
    reply_uri: str | None,
    attached: list[MediaIn],
) -> PostIn:
    polls.refuse_polls(p)
    text = (p.text("status", max_length=MAX_CHARACTERS * 4) or "").strip()
    if not text and not attached:
        raise Unprocessable("Validation failed: Text can't be blank")
    if len(text) > MAX_CHARACTERS:
        raise Unprocessable(f"Validation failed: Text character limit of {MAX_CHARACTERS} exceeded")
    visibility = p.text("visibility", "public", max_length=16) or "public"
    if visibility not in _VISIBILITIES:
        raise Unprocessable(f"Validation failed: '{visibility}' is not a visibility")
    language = p.text("language", max_length=16) or None
    if language is not None and not _LANGUAGE.match(language):
        raise Unprocessable(f"Validation failed: '{language}' is not a language code")
    spoiler = p.text("spoiler_text", "", max_length=1500) or ""
    return PostIn(
        source=SourceKind.LOCAL,
        source_uri=f"{base}/posts/{post_id}",
        url=f"{base}/@{author.username}/{post_id}",
        author_id=author.id,
        text=text,
        spoiler_text=spoiler,
        sensitive=p.flag("sensitive"),
        visibility=Visibility(visibility),
        language=language.lower() if language else None,
        in_reply_to_uri=reply_uri,
        media=attached,
    )


@router.post("/api/v1/statuses")
async def create_status(request: Request, caller: UserWriteStatuses, services: ServicesDep) -> JSON:
    account = account_of(caller)
    p = await params.body(request)
    key = (request.headers.get("idempotency-key") or "").strip()[:255] or None
    reply_to = p.id("in_reply_to_id")
    base = services.settings.public_url()
    post_id = new_id()

    async def write(uow: UnitOfWork) -> int:
        session = uow.session
        if key is not None:
            earlier = await repo.idempotent_post(session, account.id, key)
            if earlier is not None:
                return earlier
        reply_uri = None
        if reply_to is not None:
            reply_uri = (await visible_post(session, account, reply_to)).source_uri
        attached = await media.for_status(session, account.id, p, base)
        data = _post_in(base, account, post_id, p, reply_uri, attached)
        await posts.ingest(uow, data, base_url=base, post_id=post_id)
        await media.attach(session, account.id, post_id, attached)
        if key is not None:
            await repo.remember_key(session, account.id, key, post_id)
        return post_id

    made = await services.writer.submit(write)
    return JSON(await _render(services, account, made))


@router.get("/api/v1/statuses/{status_id}")
async def show_status(
    status_id: str, caller: ReadStatuses, session: SessionDep, services: ServicesDep
) -> JSON:
    post = await visible_post(session, caller.account, params.parse_id(status_id))
    base = services.settings.public_url()
    return JSON(await Renderer(session, base, caller.account).status(post))


async def _own_local(session: AsyncSession, account: Account, post_id: int) -> Post:
    post = await posts_repo.get(session, post_id)
    if post is None or post.author_id != account.id:
        raise NotFound(NOT_FOUND)
    return post


@router.put("/api/v1/statuses/{status_id}")
async def edit_status(
    status_id: str, request: Request, caller: UserWriteStatuses, services: ServicesDep
) -> JSON:
    account = account_of(caller)
    post_id = params.parse_id(status_id)
    p = await params.body(request)
    base = services.settings.public_url()

    async def write(uow: UnitOfWork) -> None:
        post = await _own_local(uow.session, account, post_id)
        if post.source != SourceKind.LOCAL.value or post.reblog_of_uri is not None:
            raise Forbidden("This action is not allowed")
        kept = [MediaIn.model_validate(m) for m in post.media]
        attached = await media.for_status(
            uow.session, account.id, p, base, post_id=post.id, kept=kept
        )
        data = _post_in(base, account, post.id, p, post.in_reply_to_uri, attached)
        data.visibility = Visibility(post.visibility)
        data.url = post.url
        data.source_uri = post.source_uri
        await posts.ingest(uow, data, base_url=base)
        await media.attach(uow.session, account.id, post.id, attached, replacing=True)

    await services.writer.submit(write)
    return JSON(await _render(services, account, post_id))


@router.delete("/api/v1/statuses/{status_id}")
async def delete_status(status_id: str, caller: UserWriteStatuses, services: ServicesDep) -> JSON:
    account = account_of(caller)
    post_id = params.parse_id(status_id)
    shown = await _render(services, account, post_id)
    if shown["account"]["id"] != str(account.id):
        raise NotFound(NOT_FOUND)

    async def write(uow: UnitOfWork) -> str:
        post = await _own_local(uow.session, account, post_id)
        await posts.delete(uow, post.source_uri, actor=account)
        return post.content_text

    shown["text"] = await services.writer.submit(write)
    return JSON(shown)


async def _mark(
    services: Services, account: Account, status_id: str, favourite: bool, on: bool
) -> JSON:
    post_id = params.parse_id(status_id)
    base = services.settings.public_url()

    async def write(uow: UnitOfWork) -> int:
        post = await visible_post(uow.session, account, post_id)
        if favourite:
            await notify.favourite(uow, account, post, on, base)
            return post.id
        existing = await repo.reblog_of(uow.session, account.id, post.id)
        if on and existing is None:
            if post.visibility not in ("public", "unlisted") or post.reblog_of_uri is not None:
                raise Forbidden("This action is not allowed")
            reblog_id = new_id()
            data = PostIn(
                source=SourceKind.LOCAL,
                source_uri=f"{base}/posts/{reblog_id}",
                url=f"{base}/@{account.username}/{reblog_id}",
                author_id=account.id,
                content_html="",
                reblog_of_uri=post.source_uri,
                visibility=Visibility.PUBLIC,
            )
            await posts.ingest(uow, data, base_url=base, post_id=reblog_id)
            await notify.reblog(uow, account, post, reblog_id, base)
            return reblog_id
        if on and existing is not None:
            return existing.reblog_id
        if existing is not None:
            reblog = await posts_repo.get(uow.session, existing.reblog_id)
            await uow.session.delete(existing)
            await uow.session.flush()
            if reblog is not None:
                await posts.delete(uow, reblog.source_uri, actor=account)
        return post.id

    shown = await services.writer.submit(write)
    return JSON(await _render(services, account, shown))


@router.post("/api/v1/statuses/{status_id}/favourite")
async def favourite(status_id: str, caller: UserWriteFavourites, services: ServicesDep) -> JSON:
    return await _mark(services, account_of(caller), status_id, True, True)


@router.post("/api/v1/statuses/{status_id}/unfavourite")
async def unfavourite(status_id: str, caller: UserWriteFavourites, services: ServicesDep) -> JSON:
    return await _mark(services, account_of(caller), status_id, True, False)


@router.post("/api/v1/statuses/{status_id}/reblog")
async def reblog(status_id: str, caller: UserWriteStatuses, services: ServicesDep) -> JSON:
    return await _mark(services, account_of(caller), status_id, False, True)


@router.post("/api/v1/statuses/{status_id}/unreblog")
async def unreblog(status_id: str, caller: UserWriteStatuses, services: ServicesDep) -> JSON:
    return await _mark(services, account_of(caller), status_id, False, False)


@router.get("/api/v1/statuses/{status_id}/context")
async def context(
    status_id: str, caller: ReadStatuses, session: SessionDep, services: ServicesDep
) -> JSON:
    viewer = caller.account
    post = await visible_post(session, viewer, params.parse_id(status_id))
    ancestors: list[Post] = []
    current = post
    while current.in_reply_to_uri and len(ancestors) < 40:
        found = await queries.posts_by_uris(session, [current.in_reply_to_uri])
        parent = found.get(current.in_reply_to_uri)
        if parent is None or parent.id in {a.id for a in ancestors}:
            break
        ancestors.append(parent)
        current = parent
    ancestors = [a for a in reversed(ancestors) if await can_see(session, viewer, a)]
    descendants = [
        d for d in await repo.descendants(session, post.id) if await can_see(session, viewer, d)
    ]
    renderer = Renderer(session, services.settings.public_url(), viewer)
    return JSON(
        {
            "ancestors": await renderer.statuses(ancestors),
            "descendants": await renderer.statuses(descendants),
        }
    )
