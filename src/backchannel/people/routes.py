"""HTTP for people: API tokens, the current account, accounts, page sign-in and out."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from backchannel.db.writer import UnitOfWork
from backchannel.deps import (
    AccountDep,
    AdminDep,
    MaybeAccountDep,
    ServicesDep,
    SessionDep,
)
from backchannel.errors import BadRequest, NotFound, Unauthorized
from backchannel.people import service as people
from backchannel.people.models import Account
from backchannel.people.schemas import (
    MAX_ACCT,
    MAX_PASSWORD,
    AccountCreate,
    SuspendRequest,
    TokenRequest,
    account_json,
)

router = APIRouter()

WRONG_CREDENTIALS = "wrong username or password"


@router.post("/api/auth/token")
async def create_token(
    body: TokenRequest, session: SessionDep, services: ServicesDep
) -> dict[str, Any]:
    """Exchange a username and password for a bearer token."""
    account = await people.authenticate(session, body.username, body.password)
    if account is None:
        raise Unauthorized(WRONG_CREDENTIALS)

    async def issue(uow: UnitOfWork) -> str:
        return await people.issue_token(uow.session, account, "api")

    token = await services.writer.submit(issue)
    return {
        "access_token": token,
        "token_type": "Bearer",
        "account": account_json(account, services.settings.public_url()),
    }


@router.delete("/api/auth/token", status_code=204)
async def delete_token(request: Request, _account: AccountDep, services: ServicesDep) -> Response:
    """Revoke the bearer token this request was made with."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise BadRequest("send the token to revoke as 'Authorization: Bearer TOKEN'")

    async def revoke(uow: UnitOfWork) -> bool:
        return await people.revoke_token(uow.session, token)

    await services.writer.submit(revoke)
    return Response(status_code=204)


@router.get("/api/me")
async def me(account: AccountDep, services: ServicesDep) -> dict[str, Any]:
    return account_json(account, services.settings.public_url())


@router.post("/api/accounts", status_code=201)
async def create_account(
    body: AccountCreate, _admin: AdminDep, services: ServicesDep
) -> dict[str, Any]:
    """Create a local account (admins only)."""

    async def create(uow: UnitOfWork) -> Account:
        return await people.create_local_account(
            uow.session, body.username, body.password, body.role, body.display_name
        )

    account = await services.writer.submit(create)
    return account_json(account, services.settings.public_url())


@router.get("/api/accounts/{acct}")
async def show_account(
    acct: str, session: SessionDep, services: ServicesDep, viewer: MaybeAccountDep
) -> dict[str, Any]:
    """An account's public profile: ``name`` for local accounts, ``name@domain`` remote."""
    account = await people.account_by_acct(session, acct) if len(acct) <= MAX_ACCT else None
    # Authors who opted out are not shown to anonymous visitors.
    if account is None or (account.opted_out and viewer is None):
        raise NotFound("no account with that name")
    return account_json(account, services.settings.public_url())


@router.post("/api/accounts/{acct}/suspend")
async def suspend_account(
    acct: str, admin: AdminDep, services: ServicesDep, body: SuspendRequest | None = None
) -> dict[str, Any]:
    """Suspend an account, local or remote (admins only): its tokens and page sessions
    stop working with the next request, and a remote author's posts are not taken in."""
    reason = body.reason if body is not None else ""

    async def write(uow: UnitOfWork) -> Account:
        account = await _existing(uow, acct)
        return await people.suspend(uow.session, account, by=admin, reason=reason)

    account = await services.writer.submit(write)
    return account_json(account, services.settings.public_url())


@router.post("/api/accounts/{acct}/unsuspend")
async def unsuspend_account(acct: str, admin: AdminDep, services: ServicesDep) -> dict[str, Any]:
    """Lift a suspension (admins only): the account's tokens work again."""

    async def write(uow: UnitOfWork) -> Account:
        account = await _existing(uow, acct)
        return await people.unsuspend(uow.session, account, by=admin)

    account = await services.writer.submit(write)
    return account_json(account, services.settings.public_url())


async def _existing(uow: UnitOfWork, acct: str) -> Account:
    account = await people.account_by_acct(uow.session, acct) if len(acct) <= MAX_ACCT else None
    if account is None:
        raise NotFound("no account with that name")
    return account


@router.post("/auth/login")
async def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next_path: Annotated[str, Form(alias="next")] = "",
) -> RedirectResponse:
    """The sign-in form: on success a session cookie and back to where the person was."""
    # A page form answers with a redirect whatever was sent, never with JSON.
    plausible = 0 < len(username) <= MAX_ACCT and len(password) <= MAX_PASSWORD
    account = await people.authenticate(session, username, password) if plausible else None
    if account is None:
        return RedirectResponse("/auth/login?error=1", status_code=303)
    # A fresh session, so nothing set before signing in carries over.
    request.session.clear()
    request.session["account_id"] = account.id
    return RedirectResponse(local_path(next_path), status_code=303)


@router.post("/auth/logout")
async def logout(request: Request) -> RedirectResponse:
    request.session.clear()
    return RedirectResponse("/", status_code=303)


def local_path(target: str) -> str:
    """``target`` if it is a path on this site, else ``/``: never an open redirect.

    ``//host`` and ``/\\host`` are other sites to a browser; so is anything with a
    scheme, and control characters can make browsers read a URL differently.
    """
    if (
        not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or any(c <= " " or c == "\x7f" for c in target)
    ):
        return "/"
    return target
