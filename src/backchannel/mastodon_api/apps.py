"""``/api/v1/apps``: register a client app; an app checks its own token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from backchannel.db.writer import UnitOfWork
from backchannel.deps import ServicesDep, SessionDep
from backchannel.errors import Unauthorized, Unprocessable
from backchannel.kit.urls import safe_url
from backchannel.mastodon_api import params, tokens
from backchannel.mastodon_api import scopes as scope_rules
from backchannel.mastodon_api.auth import INVALID_TOKEN, CallerDep
from backchannel.mastodon_api.http import JSON
from backchannel.mastodon_api.models import OAuthApp
from backchannel.mastodon_api.tokens import NewApp

router = APIRouter(tags=["mastodon"])


def app_entity(app: OAuthApp, secret: str | None = None) -> dict[str, Any]:
    uris = app.redirect_uris.split("\n")
    data: dict[str, Any] = {
        "id": str(app.id),
        "name": app.name,
        "website": app.website,
        "scopes": app.scopes.split(),
        "redirect_uri": app.redirect_uris,
        "redirect_uris": uris,
        "vapid_key": "",
    }
    if secret is not None:
        data["client_id"] = app.client_id
        data["client_secret"] = secret
        data["client_secret_expires_at"] = 0
    return data


@router.post("/api/v1/apps")
async def create_app(request: Request, services: ServicesDep) -> JSON:
    p = await params.body(request)
    name = p.text("client_name", max_length=255)
    if not name:
        raise Unprocessable("Validation failed: Application name can't be blank")
    uris = tokens.parse_redirect_uris(p.strings("redirect_uris", max_items=20))
    wanted = scope_rules.parse(p.text("scopes", max_length=1024))
    website = p.text("website", max_length=2048)
    website = safe_url(website) if website else None

    async def write(uow: UnitOfWork) -> NewApp:
        return tokens.create_app(uow.session, name, uris, wanted, website)

    made = await services.writer.submit(write)
    return JSON(app_entity(made.app, made.client_secret))


@router.get("/api/v1/apps/verify_credentials")
async def verify_app(caller: CallerDep, session: SessionDep) -> JSON:
    if caller.app_id is None:
        raise Unauthorized(INVALID_TOKEN)
    app = await session.get(OAuthApp, caller.app_id)
    if app is None:
        raise Unauthorized(INVALID_TOKEN)
    data = app_entity(app)
    data.pop("redirect_uri")
    return JSON(data)
