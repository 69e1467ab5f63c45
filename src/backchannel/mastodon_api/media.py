"""``/api/v1/media`` and ``/api/v2/media``: images apps upload for their posts.

An upload is answered at once, with its URL (processing is synchronous: images are
kept as sent, so ``/api/v2/media`` answers 200 like ``/api/v1/media``, never 202). Its
alt text and focus can change until a post shows it. A post names its images by
``media_ids[]`` (``for_status``, then ``attach`` after the post is ingested) and
carries them as ``PostIn.media``, like any remote post's media, so walls, columns and
timelines show them the same way. The file is served from this site
(``/media/uploads/ID/KEY.EXT``), where walls show it directly, not through the proxy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse, Response

from backchannel.db.writer import UnitOfWork
from backchannel.deps import ServicesDep, SessionDep
from backchannel.errors import NotFound, Unprocessable, error_body
from backchannel.mastodon_api import media_store as store
from backchannel.mastodon_api import params
from backchannel.mastodon_api.access import NOT_FOUND
from backchannel.mastodon_api.auth import Caller, account_of, user
from backchannel.mastodon_api.http import JSON
from backchannel.mastodon_api.media_models import MediaUpload
from backchannel.mastodon_api.media_uploads import (
    EXTENSIONS,
    MAX_DESCRIPTION,
    description_of,
    focus_of,
    read_upload,
)
from backchannel.media.routes import ERROR_HEADERS, IMAGE_HEADERS
from backchannel.posts.schemas import MediaIn

router = APIRouter(tags=["mastodon"])

UserWriteMedia = Annotated[Caller, Depends(user("write:media"))]
#: Mastodon's limit of images per post.
MAX_ATTACHMENTS = 4
FILE_PREFIX = "/media/uploads/"


# --- what an upload looks like ----------------------------------------------------------


def file_url(base: str, row: MediaUpload) -> str:
    return f"{base}{FILE_PREFIX}{row.id}/{row.key}.{EXTENSIONS[row.content_type]}"


def _meta(row: MediaUpload) -> dict[str, dict[str, int | float | str]]:
    meta: dict[str, dict[str, int | float | str]] = {}
    if row.width and row.height:
        size: dict[str, int | float | str] = {
            "width": row.width,
            "height": row.height,
            "size": f"{row.width}x{row.height}",
            "aspect": row.width / row.height,
        }
        # No preview is made: the small version is the original.
        meta["original"] = size
        meta["small"] = dict(size)
    if row.focus_x is not None and row.focus_y is not None:
        meta["focus"] = {"x": row.focus_x, "y": row.focus_y}
    return meta


def media_in(base: str, row: MediaUpload) -> MediaIn:
    """The upload as a post carries it (``PostIn.media``), like any remote image."""
    return MediaIn(
        url=file_url(base, row),
        description=row.description,
        type="image",
        id=str(row.id),
        meta=_meta(row),
    )


def attachment(base: str, row: MediaUpload) -> dict[str, Any]:
    """Mastodon's MediaAttachment; the same as a status shows it (``entities._media``)."""
    url = file_url(base, row)
    return {
        "id": str(row.id),
        "type": "image",
        "url": url,
        "preview_url": url,
        "remote_url": None,
        "preview_remote_url": None,
        "text_url": None,
        "meta": _meta(row),
        "description": row.description or None,
        "blurhash": None,
    }


# --- the API ------------------------------------------------------------------------------


@router.post("/api/v1/media")
@router.post("/api/v2/media")
async def upload_media(request: Request, caller: UserWriteMedia, services: ServicesDep) -> JSON:
    account = account_of(caller)
    settings = services.settings
    upload = await read_upload(request, settings.media_upload_max_bytes)

    async def write(uow: UnitOfWork) -> MediaUpload:
        return await store.add(uow.session, account.id, upload)

    row = await services.writer.submit(write)
    return JSON(attachment(settings.public_url(), row))


@router.get("/api/v1/media/{media_id}")
async def show_media(
    media_id: str, caller: UserWriteMedia, session: SessionDep, services: ServicesDep
) -> JSON:
    row = await store.owned(session, account_of(caller).id, params.parse_id(media_id))
    if row is None:
        raise NotFound(NOT_FOUND)
    return JSON(attachment(services.settings.public_url(), row))


@router.put("/api/v1/media/{media_id}")
async def update_media(
    media_id: str, request: Request, caller: UserWriteMedia, services: ServicesDep
) -> JSON:
    account = account_of(caller)
    wanted = params.parse_id(media_id)
    p = await params.body(request)
    raw_description = p.text("description", max_length=MAX_DESCRIPTION * 4)
    description = description_of(raw_description) if raw_description is not None else None
    raw_focus = p.text("focus", max_length=100)
    focus = (focus_of(raw_focus) or (None, None)) if raw_focus is not None else None

    async def write(uow: UnitOfWork) -> MediaUpload:
        row = await store.owned(uow.session, account.id, wanted)
        if row is None:
            raise NotFound(NOT_FOUND)
        if row.post_id is not None:
            raise Unprocessable(
                "Validation failed: this image is attached to a post already: edit the post"
            )
        if description is not None:
            row.description = description
        if focus is not None:
            row.focus_x, row.focus_y = focus
        return row

    row = await services.writer.submit(write)
    return JSON(attachment(services.settings.public_url(), row))


# --- posts with images ----------------------------------------------------------------------


def _requested(p: params.Params) -> list[int]:
    values = [v.strip() for v in p.strings("media_ids", max_items=100) if v.strip()]
    ids = list(dict.fromkeys(params.parse_id(v, "media_ids") for v in values))
    if len(ids) > MAX_ATTACHMENTS:
        raise Unprocessable(
            f"Validation failed: a post can have at most {MAX_ATTACHMENTS} images"
            f" ({len(ids)} were sent)"
        )
    return ids


async def for_status(
    session: AsyncSession,
    account_id: int,
    p: params.Params,
    base: str,
    *,
    post_id: int | None = None,
    kept: Sequence[MediaIn] = (),
) -> list[MediaIn]:
    """The images a new post (or an edit of ``post_id``) asks for with ``media_ids[]``:
    the caller's uploads, not shown by another post. Without ``media_ids`` an edit
    keeps what the post has (``kept``), as Mastodon does; an edit's
    ``media_attributes`` change the alt text and focus of the images it shows."""
    if not p.has("media_ids"):
        chosen = list(kept)
    else:
        chosen = await _chosen(session, account_id, p, base, post_id)
    if post_id is not None:
        chosen = await _edit_attributes(session, account_id, p, base, chosen)
    return chosen


async def _chosen(
    session: AsyncSession, account_id: int, p: params.Params, base: str, post_id: int | None
) -> list[MediaIn]:
    ids = _requested(p)
    found = await store.owned_many(session, account_id, ids)
    for media_id in ids:
        row = found.get(media_id)
        if row is None:
            raise Unprocessable(f"Validation failed: no image of yours has the id {media_id}")
        if row.post_id is not None and row.post_id != post_id:
            raise Unprocessable(
                f"Validation failed: the image {media_id} is attached to another post already"
            )
    return [media_in(base, found[media_id]) for media_id in ids]


_ATTRIBUTE_KEYS = ("id", "description", "focus")


def _attributes(p: params.Params) -> list[dict[str, Any]]:
    """``media_attributes``: a JSON list of objects, or a form's
    ``media_attributes[][id]=…&media_attributes[][description]=…`` lists, in order."""
    found: list[dict[str, Any]] = []
    for value in p.raw("media_attributes") + p.raw("media_attributes[]"):
        items = value if isinstance(value, list) else [value]
        for item in items:
            if not isinstance(item, dict):
                raise Unprocessable("media_attributes: each entry must be an object")
            found.append(item)
    columns = {key: p.strings(f"media_attributes[][{key}]") for key in _ATTRIBUTE_KEYS}
    ids = columns["id"]
    for key, values in columns.items():
        if values and len(values) != len(ids):
            raise Unprocessable(f"media_attributes: {len(ids)} ids but {len(values)} {key}s")
    found += [
        {key: columns[key][i] for key in _ATTRIBUTE_KEYS if columns[key]} for i in range(len(ids))
    ]
    if len(found) > MAX_ATTACHMENTS:
        raise Unprocessable(f"media_attributes: at most {MAX_ATTACHMENTS} entries")
    return found


async def _edit_attributes(
    session: AsyncSession,
    account_id: int,
    p: params.Params,
    base: str,
    chosen: list[MediaIn],
) -> list[MediaIn]:
    """An edit's new alt text and focus for the post's images (Mastodon 4.1's
    ``media_attributes``); images the post will not show cannot be changed here."""
    wanted = _attributes(p)
    if not wanted:
        return chosen
    shown = {m.id for m in chosen if m.id is not None}
    changes: dict[int, dict[str, Any]] = {}
    for entry in wanted:
        media_id = params.parse_id(str(entry.get("id", "")), "media_attributes id")
        if str(media_id) not in shown:
            raise Unprocessable(
                f"Validation failed: the image {media_id} is not one of this post's images"
            )
        changes[media_id] = entry
    rows = await store.owned_many(session, account_id, list(changes))
    for media_id, entry in changes.items():
        row = rows.get(media_id)
        if row is None:
            raise Unprocessable(f"Validation failed: no image of yours has the id {media_id}")
        if "description" in entry:
            row.description = description_of(str(entry["description"] or ""))
        if "focus" in entry:
            raw_focus = entry["focus"]
            focus = focus_of(str(raw_focus) if raw_focus is not None else None)
            row.focus_x, row.focus_y = focus or (None, None)
    return [
        media_in(base, rows[int(m.id)]) if m.id is not None and int(m.id) in rows else m
        for m in chosen
    ]


async def attach(
    session: AsyncSession,
    account_id: int,
    post_id: int,
    media: Sequence[MediaIn],
    *,
    replacing: bool = False,
) -> None:
    """After the post is ingested: its uploads are taken (``replacing``: an edit, which
    also frees the images it no longer shows). Nothing to do for a post without any."""
    ids = [int(m.id) for m in media if m.id is not None]
    if ids or replacing:
        await store.attach(session, account_id, post_id, ids, replacing=replacing)


# --- the files ------------------------------------------------------------------------------


@router.api_route(FILE_PREFIX + "{media_id}/{name}", methods=["GET", "HEAD"])
async def uploaded_file(
    media_id: str, name: str, request: Request, session: SessionDep
) -> Response:
    """An uploaded image, as it was sent: the path names it for good, so it is cached
    for good; its type is the one found in its bytes."""
    found = None
    if media_id.isdigit() and len(media_id) <= 19 and int(media_id) <= params.MAX_ID:
        found = await store.stored_file(session, int(media_id))
    if found is None or name != f"{found.key}.{EXTENSIONS.get(found.content_type)}":
        return JSONResponse(error_body("no such image"), 404, headers=ERROR_HEADERS)
    etag = f'"{media_id}-{found.key}"'
    headers = {**IMAGE_HEADERS, "ETag": etag}
    if etag in (request.headers.get("if-none-match") or ""):
        return Response(status_code=304, headers=headers)
    return Response(found.data, media_type=found.content_type, headers=headers)
