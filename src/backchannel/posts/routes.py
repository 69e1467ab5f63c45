"""The native post API (posts written here) and the chronological timelines."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from backchannel.db.writer import Arrival, UnitOfWork
from backchannel.deps import AccountDep, ServicesDep, SessionDep
from backchannel.errors import Forbidden, NotFound, Unprocessable
from backchannel.events import service as events_service
from backchannel.events.models import Event
from backchannel.kit.ids import new_id
from backchannel.kit.query import PageDep, SourceParam
from backchannel.people import service as people_service
from backchannel.people.models import Account
from backchannel.posts import repository as repo
from backchannel.posts import service
from backchannel.posts.hashtags import extract_hashtags, normalize_tag
from backchannel.posts.models import Post, SourceKind
from backchannel.posts.schemas import MediaIn, PostCreate, PostEdit, PostIn, post_json

router = APIRouter(tags=["posts"])


def _local_post_in(
    base_url: str, author: Account, body: PostCreate, post_id: int, reply_uri: str | None
) -> PostIn:
    data = PostIn(
        source=SourceKind.LOCAL,
        source_uri=f"{base_url}/posts/{post_id}",
        author_id=author.id,
        text=body.status,
        spoiler_text=body.spoiler_text,
        sensitive=body.sensitive,
        visibility=body.visibility,
        language=body.language,
        in_reply_to_uri=reply_uri,
        media=body.media,
    )
    # Set, not validated: our own base URL, a local username ([a-z0-9_]) and an id.
    # The URL check costs more than the rest of the model on ingest's hot path.
    data.url = f"{base_url}/@{author.username}/{post_id}"
    return data


async def create(
    services: ServicesDep,
    account: Account,
    body: PostCreate,
    event: Event | None = None,
    *,
    arrival: Arrival | None = None,
) -> bytes:
    """Write the post; its JSON (``post_json``), as ingest encoded it for its frames.
    ``arrival``: the writer was told this write is coming (``Writer.arriving``)."""
    base = services.settings.public_url()
    post_id = new_id()
    data = _local_post_in(base, account, body, post_id, None)
    if event is not None:
        data.event_ids = [event.id]
    # Here, not in the write: it needs only what was sent, and the writer runs its
    # groups one at a time (on PostgreSQL this runs while the previous group commits).
    norm = service.normalise(data, base)

    async def write(uow: UnitOfWork) -> bytes:
        if body.in_reply_to_id is not None:
            parent = await repo.get(uow.session, int(body.in_reply_to_id))
            if parent is None:
                raise Unprocessable(f"in_reply_to_id: no post {body.in_reply_to_id}")
            data.in_reply_to_uri = parent.source_uri
        result = await service.ingest(uow, data, base_url=base, post_id=post_id, normalised=norm)
        assert result.json is not None
        return result.json

    return await services.writer.submit(write, arrival)


def _created(json: bytes) -> Response:
    return Response(json, status_code=201, media_type="application/json")


@router.post("/api/posts", status_code=201)
async def create_post(body: PostCreate, services: ServicesDep, account: AccountDep) -> Response:
    """Write a post here. Its hashtags decide which events and columns it reaches."""
    return _created(await create(services, account, body))


@router.post("/api/events/{slug}/posts", status_code=201)
async def create_event_post(
    slug: str, body: PostCreate, services: ServicesDep, session: SessionDep, account: AccountDep
) -> Response:
    """Write a post into an event: its primary hashtag is added when the text has none
    of the event's tags, so the post also reaches the event everywhere else."""
    event = await events_service.require_event(session, slug, with_children=True)
    event_tags = {t.tag for t in event.tags}
    if not event_tags & set(extract_hashtags(body.status)):
        body = body.model_copy(update={"status": f"{body.status} #{event.primary_tag}"})
    return _created(await create(services, account, body, event))


@router.get("/api/posts/{post_id}")
async def get_post(post_id: int, services: ServicesDep, session: SessionDep) -> dict[str, Any]:
    post = await repo.get(session, post_id)
    if post is None or post.visibility == "direct":
        raise NotFound(f"no post {post_id}")
    return post_json(post, services.settings.public_url())


@router.patch("/api/posts/{post_id}")
async def edit_post(
    post_id: int, body: PostEdit, services: ServicesDep, account: AccountDep
) -> dict[str, Any]:
    base = services.settings.public_url()

    async def write(uow: UnitOfWork) -> Post:
        post = await repo.get(uow.session, post_id)
        if post is None or post.source != SourceKind.LOCAL.value:
            raise NotFound(f"no post {post_id} written here")
        if post.author_id != account.id:
            raise Forbidden("only its author can edit a post")
        create = PostCreate(
            status=body.status,
            spoiler_text=post.spoiler_text if body.spoiler_text is None else body.spoiler_text,
            sensitive=post.sensitive if body.sensitive is None else body.sensitive,
            visibility=post.visibility,
            language=body.language,
        )
        data = _local_post_in(base, account, create, post.id, post.in_reply_to_uri)
        data.media = [MediaIn.model_validate(m) for m in post.media]
        result = await service.ingest(uow, data, base_url=base)
        assert result.post is not None
        return result.post

    post = await services.writer.submit(write)
    return post_json(post, base)


@router.delete("/api/posts/{post_id}", status_code=204)
async def delete_post(post_id: int, services: ServicesDep, account: AccountDep) -> Response:
    async def write(uow: UnitOfWork) -> None:
        post = await repo.get(uow.session, post_id)
        if post is None:
            raise NotFound(f"no post {post_id}")
        await service.delete(uow, post.source_uri, actor=account)

    await services.writer.submit(write)
    return Response(status_code=204)


@router.get("/api/tags/{tag}/timeline")
async def tag_timeline(
    tag: str, page: PageDep, services: ServicesDep, session: SessionDep, source: SourceParam = None
) -> list[dict[str, Any]]:
    """Every public post under a hashtag, newest first. No ranking, ever."""
    name = normalize_tag(tag)
    if name is None:
        raise Unprocessable(f"'{tag}' is not a valid hashtag")
    posts = await repo.tag_timeline(session, [name], page, source=source)
    base = services.settings.public_url()
    return [post_json(p, base) for p in posts]


@router.get("/api/accounts/{acct}/timeline")
async def account_timeline(
    acct: str, page: PageDep, services: ServicesDep, session: SessionDep, source: SourceParam = None
) -> list[dict[str, Any]]:
    # Remote usernames keep their case; only the domain is case-insensitive.
    account = await people_service.account_by_acct(session, acct)
    if account is None:
        raise NotFound(f"no account '{acct}'")
    posts = await repo.account_timeline(session, account.id, page, source=source)
    base = services.settings.public_url()
    return [post_json(p, base) for p in posts]
