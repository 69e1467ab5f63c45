"""Query parameters shared by every timeline."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from backchannel.errors import Unprocessable
from backchannel.kit.pages import Page

#: Ids are signed 64-bit integers.
MAX_ID = (1 << 63) - 1
IdParam = Annotated[str | None, Query(pattern=r"^[0-9]{1,20}$")]


def page_params(
    max_id: IdParam = None,
    since_id: IdParam = None,
    min_id: IdParam = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> Page:
    if since_id is not None and min_id is not None:
        raise Unprocessable("use since_id or min_id, not both")
    for name, value in (("max_id", max_id), ("since_id", since_id), ("min_id", min_id)):
        if value is not None and int(value) > MAX_ID:
            raise Unprocessable(f"{name}: ids are at most {MAX_ID}")
    return Page(
        max_id=int(max_id) if max_id else None,
        since_id=int(since_id) if since_id else None,
        min_id=int(min_id) if min_id else None,
        limit=limit,
    )


PageDep = Annotated[Page, Depends(page_params)]
SourceParam = Annotated[str | None, Query(pattern=r"^(local|mastodon|activitypub|bluesky|feed)$")]
