"""Attendee columns: chronological, side by side, chosen by the reader and kept in
their browser; live over one multiplexed stream. No ranking, ever."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from backchannel.deps import SessionDep
from backchannel.events.models import Event
from backchannel.web.assets import static_url
from backchannel.web.i18n import N_, choose_locale
from backchannel.web.pages import PageAccount, event_not_found, load_event
from backchannel.web.templating import render, translate

router = APIRouter(include_in_schema=False)

_STRINGS = {
    "loadOlder": N_("Load older"),
    "noMore": N_("No older posts."),
    "remove": N_("Remove column"),
    "left": N_("Move left"),
    "right": N_("Move right"),
    "failed": N_("That did not work: %s"),
    "empty": N_("Nothing yet. New posts appear here live."),
    "live": N_("Live"),
    "offline": N_("Reconnecting…"),
    "cw": N_("Content warning"),
    "sensitive": N_("Sensitive media"),
    "blog": N_("Blog"),
    "here": N_("Here"),
    "open": N_("Open"),
}


def _defaults(event: Event | None) -> list[dict[str, str]]:
    if event is None:
        return []
    columns = [{"kind": "event", "name": event.slug, "label": f"#{event.primary_tag}"}]
    for session in event.sessions:
        if session.tag:
            columns.append({"kind": "tag", "name": session.tag, "label": f"#{session.tag}"})
    return columns


def _page(request: Request, event: Event | None, locale: str) -> Response:
    config: dict[str, Any] = {
        "storageKey": f"backchannel.columns.{event.slug}" if event else "backchannel.columns",
        "defaults": _defaults(event),
        "lang": locale,
        "avatar": static_url("avatar.svg"),
        "strings": {key: translate(locale, text) for key, text in _STRINGS.items()},
    }
    return render(request, "columns.html", {"event": event, "config": config}, locale=locale)


@router.get("/columns")
async def columns(request: Request, account: PageAccount) -> Response:
    return _page(request, None, choose_locale(request))


@router.get("/events/{slug}/columns")
async def event_columns(
    slug: str, request: Request, session: SessionDep, account: PageAccount
) -> Response:
    event = await load_event(session, slug)
    if event is None:
        return event_not_found(request, slug)
    return _page(request, event, choose_locale(request, event.languages))
