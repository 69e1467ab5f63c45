"""The wall for the hall: ``/events/SLUG/wall`` (every post) and ``/walls/ID`` (a
stored wall: a room's tags, its layout and theme). Both take overrides in the query:
``layout``, ``theme``, ``tag`` (repeatable), ``accent``, ``background``, ``max``."""

from __future__ import annotations

import dataclasses
import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from backchannel.deps import ServicesDep, SessionDep
from backchannel.events.models import Event
from backchannel.posts import repository as posts_repo
from backchannel.posts.hashtags import normalize_tag
from backchannel.posts.schemas import post_json
from backchannel.streams import channels
from backchannel.streams import repository as stream_store
from backchannel.web import repository as web_repo
from backchannel.web.assets import static_url
from backchannel.web.i18n import N_, choose_locale
from backchannel.web.models import Layout, Theme
from backchannel.web.pages import (
    aliases,
    current_and_next,
    event_not_found,
    join_url,
    load_event,
    schedule_json,
)
from backchannel.web.schemas import MAX_WALL_POSTS, WallView
from backchannel.web.security import SECURITY_HEADERS
from backchannel.web.templating import render, translate

router = APIRouter(include_in_schema=False)

_HEX = re.compile(r"^[0-9a-fA-F]{6}$")


def _apply_query(view: WallView, request: Request) -> WallView:
    q = request.query_params
    changes: dict[str, object] = {}
    if q.get("layout") in Layout.__members__.values():
        changes["layout"] = Layout(q["layout"])
    if q.get("theme") in Theme.__members__.values():
        changes["theme"] = Theme(q["theme"])
    for name in ("accent", "background"):
        value = q.get(name, "").removeprefix("#")
        if _HEX.fullmatch(value):
            changes[name] = f"#{value.lower()}"
    tags = [t for t in (normalize_tag(raw) for raw in q.getlist("tag")[:20]) if t]
    if tags:
        changes["tags"] = tuple(dict.fromkeys(tags))
    if q.get("max", "").isdigit():
        changes["max_posts"] = max(1, min(MAX_WALL_POSTS, int(q["max"])))
    return dataclasses.replace(view, **changes)  # type: ignore[arg-type]


async def _wall(
    request: Request, services: ServicesDep, session: SessionDep, event: Event, view: WallView
) -> Response:
    view = _apply_query(view, request)
    # The cursor first: whatever is committed after it arrives on the stream.
    cursor = await stream_store.current_seq(session, channels.event_wall(event.id))
    posts = await web_repo.wall_posts(session, event.id, view.tags, view.max_posts)
    pinned = await posts_repo.pinned(session, event.id)
    base = services.settings.public_url()
    locale = choose_locale(request, event.languages)
    current, following = current_and_next(list(event.sessions))
    config = {
        "stream": f"/api/streams/events/{event.slug}/wall",
        "cursor": cursor,
        "tags": list(view.tags),
        "maxPosts": view.max_posts,
        "layout": view.layout.value,
        "timezone": event.timezone,
        "lang": locale,
        "avatar": static_url("avatar.svg"),
        "schedule": schedule_json(event),
        "strings": {
            key: translate(locale, text)
            for key, text in {
                "cw": N_("Content warning"),
                "sensitive": N_("Sensitive media"),
                "now": N_("Now"),
                "next": N_("Next"),
                "reconnecting": N_("Reconnecting…"),
                "pinned": N_("Announcement"),
                "blog": N_("Blog"),
                "here": N_("Here"),
            }.items()
        },
    }
    context = {
        "event": event,
        "view": view,
        "aliases": aliases(event),
        "posts": [post_json(p, base) for p in posts],
        "pinned": [post_json(p, base) for p in pinned],
        "current": current,
        "following": following,
        "join_url": join_url(request, services, event),
        "config": config,
    }
    return render(request, "wall.html", context, locale=locale)


@router.get("/events/{slug}/wall")
async def event_wall(
    slug: str, request: Request, services: ServicesDep, session: SessionDep
) -> Response:
    event = await load_event(session, slug)
    if event is None:
        return event_not_found(request, slug)
    return await _wall(request, services, session, event, WallView(name=event.name))


@router.get("/walls/{wall_id}")
async def stored_wall(
    wall_id: int, request: Request, services: ServicesDep, session: SessionDep
) -> Response:
    wall = await web_repo.get_wall(session, wall_id)
    event = await web_repo.event_of(session, wall) if wall else None
    if wall is None or event is None:
        return event_not_found(request, str(wall_id))
    return await _wall(request, services, session, event, WallView.of(wall))


def _readable_on(background: str) -> str:
    """Black or white text, whichever has more contrast on ``background``."""
    r, g, b = (int(background[i : i + 2], 16) / 255 for i in (1, 3, 5))

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
    return "#111111" if luminance > 0.179 else "#ffffff"


@router.get("/theme.css")
async def theme_css(
    accent: Annotated[str, Query(pattern=r"^[0-9a-fA-F]{6}$")] = "e4572e",
    background: Annotated[str, Query(pattern=r"^[0-9a-fA-F]{6}$")] = "1d2a44",
) -> Response:
    """The event theme's colours as CSS custom properties (the CSP allows no inline style)."""
    bg, fg = f"#{background.lower()}", f"#{accent.lower()}"
    css = (
        ".theme-event {\n"
        f"  --bg: {bg};\n  --fg: {_readable_on(bg)};\n"
        f"  --accent: {fg};\n  --on-accent: {_readable_on(fg)};\n"
        "}\n"
    )
    return Response(
        css,
        media_type="text/css; charset=utf-8",
        headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=86400"},
    )
