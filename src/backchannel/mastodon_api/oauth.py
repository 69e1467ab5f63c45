"""OAuth 2: the sign-in and consent page, the token and revoke endpoints, metadata.

The consent page is plain server-rendered HTML (every value escaped), with a
sign-in form when nobody is signed in; approving posts back with a per-session
CSRF token. Errors before the redirect URI is known good are shown on the page,
never redirected (no open redirector).
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from backchannel.db.writer import UnitOfWork
from backchannel.deps import ServicesDep, SessionDep
from backchannel.kit import csrf
from backchannel.mastodon_api import params, tokens
from backchannel.mastodon_api import repository as repo
from backchannel.mastodon_api import scopes as scope_rules
from backchannel.mastodon_api.http import JSON
from backchannel.mastodon_api.models import OAuthApp
from backchannel.mastodon_api.oauth_pages import consent_page, error_page, oob_page, sign_in_page
from backchannel.mastodon_api.token_watch import token_watch
from backchannel.mastodon_api.tokens import OAuthError
from backchannel.people import service as people
from backchannel.people.models import Account

router = APIRouter(tags=["mastodon"])
_FIELDS = ("client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method")


def _oauth_error(exc: OAuthError) -> JSON:
    return JSON(
        {"error": exc.code, "error_description": exc.description},
        status_code=exc.status,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/.well-known/oauth-authorization-server")
async def metadata(services: ServicesDep) -> JSON:
    base = services.settings.public_url()
    return JSON(
        {
            "issuer": f"{base}/",
            "service_documentation": "https://docs.joinmastodon.org/",
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "app_registration_endpoint": f"{base}/api/v1/apps",
            "scopes_supported": scope_rules.SUPPORTED,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
        }
    )


async def _validated(session: Any, fields: dict[str, str]) -> tuple[OAuthApp, list[str]]:
    app = await repo.app_by_client_id(session, fields.get("client_id", ""))
    if app is None:
        raise OAuthError("invalid_client", "This app is not registered here.")
    wanted = scope_rules.parse(fields.get("scope") or None)
    tokens.check_request(app, fields.get("redirect_uri", ""), wanted)
    method = fields.get("code_challenge_method") or ""
    if fields.get("code_challenge") and method != "S256":
        raise OAuthError("invalid_request", "Only the S256 code challenge method is supported.")
    return app, wanted


async def _signed_in(request: Request, session: Any) -> Account | None:
    account_id = request.session.get("account_id")
    return await people.account_by_id(session, account_id) if account_id else None


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        body,
        status_code=status,
        headers={
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "frame-ancestors 'none'",
            "Cache-Control": "no-store",
        },
    )


@router.get("/oauth/authorize", response_class=HTMLResponse)
async def authorize_page(request: Request, session: SessionDep) -> Response:
    fields = {k: request.query_params.get(k, "") for k in _FIELDS}
    if request.query_params.get("response_type", "code") != "code":
        return _html(error_page("Only response_type=code is supported."), 400)
    try:
        app, wanted = await _validated(session, fields)
    except OAuthError as exc:
        return _html(error_page(exc.description), 400)
    account = await _signed_in(request, session)
    force = params.query(request).flag("force_login")
    if account is None or force:
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "force_login"]
        next_path = f"/oauth/authorize?{urlencode(kept)}"
        return _html(sign_in_page(app.name, next_path, csrf.token_for(request.session)))
    return _html(consent_page(app, account, wanted, fields, csrf.token_for(request.session)))


@router.post("/oauth/authorize", response_class=HTMLResponse)
async def authorize(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    form = await request.form()
    fields = {k: str(form.get(k) or "") for k in _FIELDS}
    if not csrf.is_valid(request.session, str(form.get(csrf.FORM_FIELD) or "")):
        return _html(error_page("This form has expired. Go back and try again."), 403)
    account = await _signed_in(request, session)
    if account is None:
        return _html(error_page("Sign in first."), 401)
    try:
        app, wanted = await _validated(session, fields)
    except OAuthError as exc:
        return _html(error_page(exc.description), 400)
    redirect_uri = fields["redirect_uri"]
    state = {"state": fields["state"]} if fields["state"] else {}
    if form.get("decision") != "approve":
        if redirect_uri == tokens.OOB:
            return _html(error_page("You did not authorise the app."))
        return _redirect(redirect_uri, {"error": "access_denied", **state})
    challenge = fields["code_challenge"] or None

    async def write(uow: UnitOfWork) -> str:
        return tokens.issue_code(uow.session, app, account, redirect_uri, wanted, challenge)

    code = await services.writer.submit(write)
    if redirect_uri == tokens.OOB:
        return _html(oob_page(app.name, code))
    return _redirect(redirect_uri, {"code": code, **state})


def _redirect(uri: str, query: dict[str, str]) -> RedirectResponse:
    separator = "&" if "?" in uri else "?"
    return RedirectResponse(uri + separator + urlencode(query), status_code=303)


def _basic_auth(request: Request) -> tuple[str | None, str | None]:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        client_id, _, secret = base64.b64decode(value).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return client_id, secret


@router.post("/oauth/token")
async def token(request: Request, services: ServicesDep) -> JSON:
    p = await params.body(request)
    basic_id, basic_secret = _basic_auth(request)
    client_id = p.text("client_id", max_length=64) or basic_id
    client_secret = p.text("client_secret", max_length=512) or basic_secret
    grant = p.text("grant_type", max_length=64)

    async def write(uow: UnitOfWork) -> tuple[str, str]:
        app = await tokens.authenticate_client(uow.session, client_id, client_secret)
        if grant == "authorization_code":
            code = p.text("code", max_length=512) or ""
            return await tokens.exchange_code(
                uow.session,
                app,
                code,
                p.text("redirect_uri", max_length=2048),
                p.text("code_verifier", max_length=256),
            )
        if grant == "client_credentials":
            wanted = scope_rules.parse(p.text("scope", max_length=1024))
            if scope_rules.unknown(wanted) or not scope_rules.subset(wanted, app.scopes.split()):
                raise OAuthError("invalid_scope", "The requested scope is not allowed.")
            granted = " ".join(wanted)
            return tokens.issue_app_token(uow.session, app, granted), granted
        raise OAuthError("unsupported_grant_type", "Use authorization_code or client_credentials.")

    try:
        access_token, granted = await services.writer.submit(write)
    except OAuthError as exc:
        return _oauth_error(exc)
    return JSON(
        {
            "access_token": access_token,
            "token_type": "Bearer",
            "scope": granted,
            "created_at": int(time.time()),
        },
        headers={"Cache-Control": "no-store"},
    )


@router.post("/oauth/revoke")
async def revoke(request: Request, services: ServicesDep) -> JSON:
    p = await params.body(request)
    basic_id, basic_secret = _basic_auth(request)
    client_id = p.text("client_id", max_length=64) or basic_id
    client_secret = p.text("client_secret", max_length=512) or basic_secret
    access_token = p.text("token", max_length=512) or ""

    hashed = people.token_hash(access_token)

    async def write(uow: UnitOfWork) -> None:
        app = await tokens.authenticate_client(uow.session, client_id, client_secret)
        await repo.revoke(uow.session, hashed, app.id)

    try:
        await services.writer.submit(write)
    except OAuthError:
        return _oauth_error(
            OAuthError("unauthorized_client", "You are not authorized to revoke this token", 403)
        )
    # This process's open streams on the token end now, not at the watch's next round
    # (it asks, rather than assumes: another app's token is left as it was).
    await token_watch(services).check_now(hashed)
    return JSON({})
