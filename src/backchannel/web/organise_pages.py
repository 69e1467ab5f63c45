"""Organiser pages: the events one runs, creating an event in one form, and changing
its sessions, aliases, moderation, walls and moderators. Plain form posts (no script
needed), validated by the same bodies the JSON API takes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from backchannel.connectors import repository as connectors_repo
from backchannel.db.writer import UnitOfWork
from backchannel.deps import ServicesDep, SessionDep
from backchannel.errors import AppError
from backchannel.events import repository as events_repo
from backchannel.events import service as events_service
from backchannel.events.models import Event
from backchannel.events.schemas import EventCreate, EventUpdate
from backchannel.people.models import Account, Role
from backchannel.web import forms
from backchannel.web import repository as web_repo
from backchannel.web import service as web_service
from backchannel.web.i18n import choose_locale
from backchannel.web.pages import PageAccount, error_page, event_not_found, to_login
from backchannel.web.schemas import WallCreate, WallUpdate
from backchannel.web.templating import render, translate

router = APIRouter(include_in_schema=False)

_ORGANISERS = (Role.ADMIN.value, Role.ORGANISER.value)


def _may_organise(account: Account | None) -> bool:
    return account is not None and account.role in _ORGANISERS


def _blank_event() -> dict[str, Any]:
    return {"timezone": "Europe/Berlin", "languages": ["en", "de"], "sessions": []}


def _with_rows(fields: dict[str, Any]) -> dict[str, Any]:
    fields["sessions"] = list(fields.get("sessions", [])) + [{}] * forms.EXTRA_SESSION_ROWS
    return fields


@router.get("/organise")
async def organise(request: Request, session: SessionDep, account: PageAccount) -> Response:
    locale = choose_locale(request)
    if account is None:
        return to_login(request)
    if not _may_organise(account):
        return error_page(request, locale, 403, translate(locale, "Only organisers can do this."))
    events = await events_repo.list_events(session, 200, 0)
    mine = [e for e in events if events_service.can_manage(account, e)]
    return render(request, "organise.html", {"events": mine}, locale=locale)


@router.get("/organise/new")
async def new_event_form(request: Request, account: PageAccount) -> Response:
    locale = choose_locale(request)
    if account is None:
        return to_login(request)
    if not _may_organise(account):
        return error_page(request, locale, 403, translate(locale, "Only organisers can do this."))
    context = {"fields": _with_rows(_blank_event()), "error": None, "event": None}
    return render(request, "event_form.html", context, locale=locale)


@router.post("/organise/new")
async def create_event(request: Request, services: ServicesDep, account: PageAccount) -> Response:
    locale = choose_locale(request)
    if not _may_organise(account):
        return error_page(request, locale, 403, translate(locale, "Only organisers can do this."))
    assert account is not None
    form = await request.form()
    try:
        forms.check_csrf(request.session, form)
        body = EventCreate.model_validate(forms.event_body(form))

        async def write(uow: UnitOfWork) -> str:
            return (await events_service.create_event(uow.session, body, account)).slug

        slug = await services.writer.submit(write)
    except (forms.FormError, ValidationError, AppError) as exc:
        context = {"fields": _with_rows(forms.posted_fields(form)), "error": _message(exc)}
        return render(
            request, "event_form.html", {**context, "event": None}, locale=locale, status=422
        )
    return RedirectResponse(f"/organise/events/{slug}", status_code=303)


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return forms.describe(exc)
    if isinstance(exc, AppError):
        return exc.message
    return str(exc)


async def _managed(session: SessionDep, slug: str, account: Account | None) -> Event | None:
    event = await events_repo.get_by_slug(session, slug)
    if event is None or account is None or not events_service.can_manage(account, event):
        return None
    return event


async def _edit_page(
    request: Request,
    session: SessionDep,
    event: Event,
    *,
    error: str | None = None,
    fields: dict[str, Any] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    context = {
        "event": event,
        "fields": _with_rows(fields or forms.event_fields(event)),
        "error": error,
        "notice": notice,
        "moderators": await events_repo.list_moderators(session, event.id),
        "walls": await web_repo.walls_of(session, event.id),
        "sources": await _sources_summary(session, event),
    }
    locale = choose_locale(request, event.languages)
    return render(request, "event_form.html", context, locale=locale, status=status)


#: Statuses that ask an organiser to look (the sources page says why).
_TROUBLE = frozenset({"error", "unauthorized"})


async def _sources_summary(session: SessionDep, event: Event) -> dict[str, int]:
    connectors = await connectors_repo.list_for_event(session, event.id)
    return {
        "total": len(connectors),
        "trouble": sum(1 for c in connectors if c.enabled and c.status in _TROUBLE),
    }


@router.get("/organise/events/{slug}")
async def edit_event_form(
    slug: str, request: Request, session: SessionDep, account: PageAccount
) -> Response:
    if account is None:
        return to_login(request)
    event = await _managed(session, slug, account)
    if event is None:
        return event_not_found(request, slug)
    return await _edit_page(request, session, event, notice=request.query_params.get("saved"))


async def _change(
    slug: str,
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    account: Account | None,
    change: Callable[[UnitOfWork, Event, Any], Awaitable[None]],
) -> Response:
    """Check the form, run ``change`` in one write, and go back to the edit page."""
    event = await _managed(session, slug, account)
    if event is None:
        return event_not_found(request, slug)
    form = await request.form()
    try:
        forms.check_csrf(request.session, form)

        async def write(uow: UnitOfWork) -> str:
            fresh = await events_repo.get_by_slug(uow.session, slug)
            assert fresh is not None
            await change(uow, fresh, form)
            return fresh.slug

        new_slug = await services.writer.submit(write)
    except (forms.FormError, ValidationError, AppError) as exc:
        fields = forms.posted_fields(form) if "name" in form else None
        return await _edit_page(
            request, session, event, error=_message(exc), fields=fields, status=422
        )
    return RedirectResponse(f"/organise/events/{new_slug}?saved=1", status_code=303)


@router.post("/organise/events/{slug}")
async def update_event(
    slug: str, request: Request, services: ServicesDep, session: SessionDep, account: PageAccount
) -> Response:
    async def change(uow: UnitOfWork, event: Event, form: Any) -> None:
        body = EventUpdate.model_validate(forms.event_body(form))
        await events_service.update_event(uow.session, event, body)

    return await _change(slug, request, services, session, account, change)


@router.post("/organise/events/{slug}/moderators")
async def change_moderators(
    slug: str, request: Request, services: ServicesDep, session: SessionDep, account: PageAccount
) -> Response:
    async def change(uow: UnitOfWork, event: Event, form: Any) -> None:
        if forms.text(form, "remove"):
            await events_service.remove_moderator(uow.session, event, forms.text(form, "remove"))
        else:
            await events_service.add_moderator(uow.session, event, forms.text(form, "username"))

    return await _change(slug, request, services, session, account, change)


@router.post("/organise/events/{slug}/walls")
async def change_walls(
    slug: str, request: Request, services: ServicesDep, session: SessionDep, account: PageAccount
) -> Response:
    async def change(uow: UnitOfWork, event: Event, form: Any) -> None:
        wall_id = forms.text(form, "wall_id")
        fields = {
            "name": forms.text(form, "wall_name"),
            "tags": forms.words(forms.text(form, "wall_tags")),
            "layout": forms.text(form, "layout") or "columns",
            "theme": forms.text(form, "theme") or "dark",
            "accent": forms.text(form, "accent") or None,
            "background": forms.text(form, "background") or None,
            "logo_url": forms.text(form, "logo_url") or None,
        }
        if not wall_id:
            await web_service.create_wall(uow.session, event, WallCreate.model_validate(fields))
            return
        wall = await web_repo.get_wall(uow.session, int(wall_id)) if wall_id.isdigit() else None
        if wall is None or wall.event_id != event.id:
            raise forms.FormError("That wall is gone.")
        if forms.text(form, "delete"):
            await web_service.delete_wall(uow.session, wall)
        else:
            await web_service.update_wall(uow.session, wall, WallUpdate.model_validate(fields))

    return await _change(slug, request, services, session, account, change)
