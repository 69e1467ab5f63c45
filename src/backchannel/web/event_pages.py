"""The event page (what the QR codes point to), its hashtag kit, and the home page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from backchannel.deps import ServicesDep, SessionDep
from backchannel.events import repository as events_repo
from backchannel.kit.pages import Page
from backchannel.posts import repository as posts_repo
from backchannel.posts.schemas import post_json
from backchannel.web import repository as web_repo
from backchannel.web.i18n import choose_locale
from backchannel.web.pages import (
    PageAccount,
    aliases,
    can_moderate,
    current_and_next,
    event_not_found,
    join_url,
    load_event,
)
from backchannel.web.templating import render

router = APIRouter(include_in_schema=False)

#: Posts the event page shows (it works without JavaScript; the columns go further).
EVENT_PAGE_POSTS = 20


@router.get("/")
async def home(request: Request, session: SessionDep, account: PageAccount) -> Response:
    events = await events_repo.list_events(session, 50, 0)
    return render(request, "home.html", {"events": events}, locale=choose_locale(request))


@router.get("/events/{slug}")
async def event_page(
    slug: str, request: Request, services: ServicesDep, session: SessionDep, account: PageAccount
) -> Response:
    event = await load_event(session, slug)
    if event is None:
        return event_not_found(request, slug)
    rows = await posts_repo.event_timeline(
        session, event.id, Page(limit=EVENT_PAGE_POSTS), on_wall_only=True
    )
    base = services.settings.public_url()
    current, following = current_and_next(list(event.sessions))
    context = {
        "event": event,
        "aliases": aliases(event),
        "posts": [post_json(p, base) for p, _ in rows],
        "walls": await web_repo.walls_of(session, event.id),
        "current": current,
        "following": following,
        "join_url": join_url(request, services, event),
        "moderator": await can_moderate(session, account, event),
        "manager": account is not None
        and (account.role == "admin" or account.id == event.owner_id),
    }
    return render(request, "event.html", context, locale=choose_locale(request, event.languages))


async def _kit(
    template: str, slug: str, request: Request, services: ServicesDep, session: SessionDep
) -> Response:
    event = await load_event(session, slug)
    if event is None:
        return event_not_found(request, slug)
    context = {
        "event": event,
        "aliases": aliases(event),
        "join_url": join_url(request, services, event),
    }
    return render(request, template, context, locale=choose_locale(request, event.languages))


@router.get("/events/{slug}/poster")
async def poster(
    slug: str, request: Request, services: ServicesDep, session: SessionDep
) -> Response:
    """An A4 poster with the hashtag and a QR code: print it from the browser."""
    return await _kit("poster.html", slug, request, services, session)


@router.get("/events/{slug}/slide")
async def slide(
    slug: str, request: Request, services: ServicesDep, session: SessionDep
) -> Response:
    """A 16:9 slide for the start of the event: how and why to use the hashtag."""
    return await _kit("slide.html", slug, request, services, session)
