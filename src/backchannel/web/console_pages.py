"""The moderator console: the live queue, decisions with keyboard shortcuts, the
rules, the audit log and a preview of every wall of the event."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from backchannel.deps import SessionDep
from backchannel.moderation.schemas import Rules
from backchannel.web import repository as web_repo
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

#: What the console's script says, in the page's language.
_STRINGS = {
    "approve": N_("Approve"),
    "hide": N_("Hide"),
    "pin": N_("Pin"),
    "unpin": N_("Unpin"),
    "ban": N_("Ban"),
    "banConfirm": N_("Press ban again to ban @%s"),
    "banned": N_("Banned @%s"),
    "pending": N_("waiting"),
    "approved": N_("on the wall"),
    "hidden": N_("hidden"),
    "pinned": N_("pinned"),
    "review": N_("needs review"),
    "failed": N_("That did not work: %s"),
    "saved": N_("Saved."),
    "empty": N_("Nothing to review. New posts appear here live."),
    "cw": N_("Content warning"),
    "sensitive": N_("Sensitive media"),
    "blog": N_("Blog"),
    "here": N_("Here"),
    "open": N_("Open"),
    "frozen": N_("The walls are frozen: nothing new appears."),
    "freeze": N_("Freeze the walls"),
    "unfreeze": N_("Unfreeze the walls"),
}


@router.get("/events/{slug}/moderate")
async def console(
    slug: str, request: Request, session: SessionDep, account: PageAccount
) -> Response:
    event = await load_event(session, slug)
    if event is None:
        return event_not_found(request, slug)
    locale = choose_locale(request, event.languages)
    if account is None:
        return to_login(request)
    if not await can_moderate(session, account, event):
        message = translate(locale, "Only this event's moderators can open its console.")
        return error_page(request, locale, 403, message)
    rules = Rules.model_validate(event.rules or {})
    config = {
        "slug": event.slug,
        "lang": locale,
        "frozen": event.frozen_at is not None,
        "strings": {key: translate(locale, text) for key, text in _STRINGS.items()},
    }
    context = {
        "event": event,
        "rules": rules,
        "walls": await web_repo.walls_of(session, event.id),
        "config": config,
    }
    return render(request, "console.html", context, locale=locale)
