"""An event's sources for its organisers: Bluesky, Mastodon servers and feeds with
their health, and plain forms to add, switch, re-key and remove them or import an
OPML file. The forms go through the bodies and use cases of the connectors API;
the event's moderators see the table read-only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.responses import RedirectResponse, Response

from backchannel.connectors import repository as connectors_repo
from backchannel.connectors import service as connectors_service
from backchannel.connectors.opml import MAX_OPML_BYTES, parse_opml
from backchannel.connectors.schemas import parse_connector_id
from backchannel.connectors.supervisor import wake_after_commit
from backchannel.db.writer import UnitOfWork
from backchannel.deps import Services, ServicesDep, SessionDep
from backchannel.errors import AppError, NotFound
from backchannel.events import repository as events_repo
from backchannel.events import service as events_service
from backchannel.events.models import Event
from backchannel.web import forms
from backchannel.web import sources_forms as source_forms
from backchannel.web.i18n import N_, choose_locale
from backchannel.web.pages import (
    PageAccount,
    can_moderate,
    error_page,
    event_not_found,
    load_event,
    to_login,
)
from backchannel.web.templating import render, translate

router = APIRouter(include_in_schema=False)

#: How often the page's script asks for fresh health.
REFRESH_SECONDS = 10

#: A status in words (never colour alone); the script uses the same words.
STATUS_LABELS = {
    "connected": N_("connected"),
    "polling": N_("polling"),
    "error": N_("error"),
    "unauthorized": N_("unauthorized"),
    "stopped": N_("stopped"),
    "starting": N_("starting"),
}
_NOTICES = {
    "added": N_("Source added. It starts within a few seconds."),
    "changed": N_("Saved."),
    "removed": N_("Source removed."),
    "opml": N_("Feeds added: %(added)s. Skipped: %(skipped)s (already registered)."),
}
#: Messages raised elsewhere that these pages show; listed here to be translated.
_SHOWN_MESSAGES = (N_("The form expired. Reload the page and send it again."),)

#: A validated form's change: runs in the writer, returns the redirect's query.
Write = Callable[[UnitOfWork, Event], Awaitable[dict[str, str]]]


def _base(slug: str) -> str:
    return f"/organise/events/{slug}/sources"


def _notice(request: Request, locale: str) -> str | None:
    key = request.query_params.get("saved", "")
    if key not in _NOTICES:
        return None
    numbers = {}
    for name in ("added", "skipped"):
        value = request.query_params.get(name, "")
        numbers[name] = int(value) if value.isdigit() else 0
    return translate(locale, _NOTICES[key]) % numbers


async def _page(
    request: Request,
    session: SessionDep,
    event: Event,
    locale: str,
    *,
    manage: bool,
    errors: dict[str, str] | None = None,
    fields: dict[str, dict[str, str]] | None = None,
    status: int = 200,
) -> Response:
    rows = [
        source_forms.row(c, locale) for c in await connectors_repo.list_for_event(session, event.id)
    ]
    labels = {key: translate(locale, text) for key, text in STATUS_LABELS.items()}
    config = {
        "slug": event.slug,
        "lang": locale,
        "timezone": event.timezone,
        "refreshSeconds": REFRESH_SECONDS,
        "strings": {
            **{f"status_{key}": label for key, label in labels.items()},
            "under_a_second": translate(locale, "under a second"),
            "stale": translate(locale, "Could not refresh: %s"),
        },
    }
    context = {
        "event": event,
        "rows": rows,
        "manage": manage,
        "has_bluesky": any(r["kind"] == "bluesky" for r in rows),
        "status_labels": labels,
        "errors": errors or {},
        "fields": fields or {},
        "notice": _notice(request, locale) if status == 200 else None,
        "config": config,
    }
    return render(request, "sources.html", context, locale=locale, status=status)


@router.get("/organise/events/{slug}/sources")
async def sources(
    slug: str, request: Request, session: SessionDep, account: PageAccount
) -> Response:
    event = await load_event(session, slug)
    if event is None:
        return event_not_found(request, slug)
    locale = choose_locale(request, event.languages)
    if account is None:
        return to_login(request)
    manage = events_service.can_manage(account, event)
    if not manage and not await can_moderate(session, account, event):
        message = translate(locale, "Only this event's organisers and moderators see its sources.")
        return error_page(request, locale, 403, message)
    return await _page(request, session, event, locale, manage=manage)


async def _apply(
    slug: str,
    request: Request,
    services: Services,
    session: SessionDep,
    account: Any,
    prepare: Callable[[FormData], Awaitable[Write]],
) -> Response:
    """Check who asks and the CSRF token, let ``prepare`` validate the form (outside
    the writer) into a write, run it, wake the supervisor, and go back to the page.
    A problem shows the page again with the message by the form that sent it (its
    hidden ``form`` field), and what was typed in it."""
    event = await load_event(session, slug)
    if event is None:
        return event_not_found(request, slug)
    locale = choose_locale(request, event.languages)
    if account is None or not events_service.can_manage(account, event):
        message = translate(locale, "Only the event's owner or an admin can change its sources.")
        return error_page(request, locale, 403, message)
    problems = (forms.FormError, ValidationError, AppError)
    # As a context manager, so that an uploaded file is closed when done with.
    async with request.form(max_files=1, max_fields=20) as form:
        which = forms.text(form, "form") or "top"
        kept = source_forms.kept_fields(form, which)

        async def problem(exc: Exception) -> Response:
            return await _page(
                request,
                session,
                event,
                locale,
                manage=True,
                errors={which: source_forms.describe(exc, locale)},
                fields={which: kept},
                status=422,
            )

        try:
            forms.check_csrf(request.session, form)
            change = await prepare(form)
        except problems as exc:
            return await problem(exc)

    async def write(uow: UnitOfWork) -> dict[str, str]:
        fresh = await events_repo.get_by_slug(uow.session, slug)
        if fresh is None:
            raise NotFound("the event is gone")
        query = await change(uow, fresh)
        wake_after_commit(uow, services.extra)
        return query

    try:
        query = await services.writer.submit(write)
    except problems as exc:
        return await problem(exc)
    return RedirectResponse(f"{_base(slug)}?{urlencode(query)}", status_code=303)


@router.post("/organise/events/{slug}/sources")
async def add_source(
    slug: str, request: Request, services: ServicesDep, session: SessionDep, account: PageAccount
) -> Response:
    async def prepare(form: FormData) -> Write:
        body = source_forms.add_body(form)

        async def change(uow: UnitOfWork, event: Event) -> dict[str, str]:
            await connectors_service.create(uow.session, event, body)
            return {"saved": "added"}

        return change

    return await _apply(slug, request, services, session, account, prepare)


async def _read_opml(form: FormData) -> bytes:
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise forms.FormError(N_("Choose an OPML file."))
    # One byte more than the parser takes, so that it can say the file is too big.
    return await upload.read(MAX_OPML_BYTES + 1)


@router.post("/organise/events/{slug}/sources/opml")
async def import_opml(
    slug: str, request: Request, services: ServicesDep, session: SessionDep, account: PageAccount
) -> Response:
    async def prepare(form: FormData) -> Write:
        match = source_forms.match_choice(form)
        data = await _read_opml(form)
        try:
            feeds = parse_opml(data)
        except ValueError as exc:
            raise forms.FormError(N_("This is not a usable OPML file: %s"), str(exc)) from exc

        async def change(uow: UnitOfWork, event: Event) -> dict[str, str]:
            result = await connectors_service.import_opml(uow.session, event, feeds, match=match)
            added, skipped = len(result["added"]), len(result["skipped"])
            return {"saved": "opml", "added": str(added), "skipped": str(skipped)}

        return change

    return await _apply(slug, request, services, session, account, prepare)


@router.post("/organise/events/{slug}/sources/{connector_id}")
async def change_source(
    slug: str,
    connector_id: str,
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    account: PageAccount,
) -> Response:
    async def prepare(form: FormData) -> Write:
        wanted = parse_connector_id(connector_id)
        remove = forms.text(form, "remove") == "1"
        body = None if remove else source_forms.update_body(form)

        async def change(uow: UnitOfWork, event: Event) -> dict[str, str]:
            connector = await connectors_repo.get(uow.session, event.id, wanted)
            if connector is None:
                raise forms.FormError(N_("That source is gone."))
            if body is None:
                await uow.session.delete(connector)
                return {"saved": "removed"}
            connectors_service.update(connector, body)
            return {"saved": "changed"}

        return change

    return await _apply(slug, request, services, session, account, prepare)
