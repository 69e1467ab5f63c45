"""What every page route shares: the signed-in person, the event, the error pages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response

from backchannel.deps import ServicesDep
from backchannel.events import repository as events_repo
from backchannel.events import service as events_service
from backchannel.events.models import Event, EventSession, TagKind
from backchannel.kit.clock import isoformat, utcnow
from backchannel.people import service as people
from backchannel.people.models import Account
from backchannel.web.i18n import choose_locale
from backchannel.web.templating import render, translate


async def page_account(request: Request, services: ServicesDep) -> Account | None:
    """The person signed in with the page session, for rendering pages and form posts.

    Unlike ``deps.get_account`` this never reads a bearer token and checks no CSRF
    header: form posts check their ``csrf_token`` field themselves (``forms.py``).
    """
    account_id = request.session.get("account_id") if "session" in request.scope else None
    account = None
    if isinstance(account_id, int):
        async with services.sessionmaker() as session:
            account = await people.account_by_id(session, account_id)
    request.state.account = account
    return account


PageAccount = Annotated[Account | None, Depends(page_account)]


async def load_event(session: AsyncSession, slug: str) -> Event | None:
    return await events_repo.get_by_slug(session, slug)


async def can_moderate(session: AsyncSession, account: Account | None, event: Event) -> bool:
    return account is not None and await events_service.can_moderate(session, account, event)


def aliases(event: Event) -> list[str]:
    return sorted(t.tag for t in event.tags if t.kind == TagKind.ALIAS)


def error_page(request: Request, locale: str, status: int, message: str) -> Response:
    return render(
        request, "error.html", {"status": status, "message": message}, locale=locale, status=status
    )


def event_not_found(request: Request, slug: str) -> Response:
    locale = choose_locale(request)
    return error_page(
        request, locale, 404, translate(locale, "There is no event with this address.")
    )


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/auth/login?next={quote(target, safe='')}", status_code=303)


def current_and_next(
    sessions: list[EventSession], now: datetime | None = None
) -> tuple[EventSession | None, EventSession | None]:
    """The session running now (the latest to start) and the next one to start."""
    now = now or utcnow()
    running = [s for s in sessions if s.starts_at and s.ends_at and s.starts_at <= now < s.ends_at]
    upcoming = [s for s in sessions if s.starts_at and s.starts_at > now]
    current = max(running, key=lambda s: s.starts_at or now) if running else None
    following = min(upcoming, key=lambda s: s.starts_at or now) if upcoming else None
    return current, following


def schedule_json(event: Event) -> list[dict[str, Any]]:
    """The sessions as the wall's script needs them to follow the clock by itself."""
    return [
        {
            "title": s.title,
            "room": s.room,
            "speakers": list(s.speakers),
            "tag": s.tag,
            "starts_at": isoformat(s.starts_at),
            "ends_at": isoformat(s.ends_at),
        }
        for s in event.sessions
    ]


def join_url(request: Request, services: ServicesDep, event: Event) -> str:
    """The event page's public address: what the QR codes point to."""
    base = services.settings.base_url.rstrip("/") or str(request.base_url).rstrip("/")
    return f"{base}/events/{event.slug}"
