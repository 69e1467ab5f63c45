"""The sign-in form (its POST is ``people.routes.login``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from backchannel.people.routes import local_path
from backchannel.web.i18n import choose_locale
from backchannel.web.pages import PageAccount
from backchannel.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/auth/login")
async def login_form(request: Request, account: PageAccount) -> Response:
    context = {
        "next_path": local_path(request.query_params.get("next", "/")),
        "failed": request.query_params.get("error") == "1",
    }
    return render(request, "login.html", context, locale=choose_locale(request))
