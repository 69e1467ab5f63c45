"""Every query on uploaded images (``masto_media``)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.errors import Unprocessable
from backchannel.kit.ids import new_id
from backchannel.mastodon_api.media_models import MediaUpload
from backchannel.mastodon_api.media_uploads import Upload


class StoredFile(NamedTuple):
    key: str
    content_type: str
    data: bytes


async def add(session: AsyncSession, account_id: int, upload: Upload) -> MediaUpload:
    focus_x, focus_y = upload.focus if upload.focus is not None else (None, None)
    row = MediaUpload(
        id=new_id(),
        account_id=account_id,
        post_id=None,
        key=secrets.token_hex(12),
        content_type=upload.content_type,
        data=upload.data,
        size=len(upload.data),
        width=upload.width,
        height=upload.height,
        description=upload.description,
        focus_x=focus_x,
        focus_y=focus_y,
    )
    session.add(row)
    await session.flush()
    return row


async def owned(session: AsyncSession, account_id: int, media_id: int) -> MediaUpload | None:
    """``account_id``'s upload ``media_id`` (without its bytes), or ``None``."""
    row = await session.get(MediaUpload, media_id)
    return row if row is not None and row.account_id == account_id else None


async def owned_many(
    session: AsyncSession, account_id: int, media_ids: Sequence[int]
) -> dict[int, MediaUpload]:
    """Those of ``media_ids`` that are ``account_id``'s uploads (without their bytes)."""
    if not media_ids:
        return {}
    rows = await session.scalars(
        select(MediaUpload).where(
            MediaUpload.id.in_(media_ids), MediaUpload.account_id == account_id
        )
    )
    return {row.id: row for row in rows}


async def stored_file(session: AsyncSession, media_id: int) -> StoredFile | None:
    found = await session.execute(
        select(MediaUpload.key, MediaUpload.content_type, MediaUpload.data).where(
            MediaUpload.id == media_id
        )
    )
    row = found.first()
    return StoredFile(*row) if row is not None else None


async def attach(
    session: AsyncSession,
    account_id: int,
    post_id: int,
    media_ids: Sequence[int],
    *,
    replacing: bool,
) -> None:
    """Mark ``media_ids`` as shown by ``post_id``; with ``replacing`` (an edit), free
    what the post showed before and shows no more.

    Conditional, so two posts racing for one image (two processes) cannot both have
    it: the one that comes second finds it taken and fails with 422.
    """
    if media_ids:
        taken = await session.execute(
            update(MediaUpload)
            .where(
                MediaUpload.id.in_(media_ids),
                MediaUpload.account_id == account_id,
                or_(MediaUpload.post_id.is_(None), MediaUpload.post_id == post_id),
            )
            .values(post_id=post_id)
        )
        if taken.rowcount != len(media_ids):  # type: ignore[attr-defined]
            raise Unprocessable(
                "Validation failed: an image was attached to another post meanwhile"
            )
    if replacing:
        await session.execute(
            update(MediaUpload)
            .where(MediaUpload.post_id == post_id, MediaUpload.id.not_in(media_ids))
            .values(post_id=None)
        )
