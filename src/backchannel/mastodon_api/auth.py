"""Who is calling the Mastodon API, with which scopes, and the checks Mastodon makes.

A token is looked up on every request (no cache), so a revoked token, or one whose
account is suspended, stops working at once. Tokens come as ``Authorization: Bearer …``
or ``access_token=…`` (the query or the form, as Doorkeeper accepts them: browsers'
EventSource cannot send headers).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from backchannel.deps import Services, get_services
from backchannel.errors import AppError, Forbidden, Unauthorized
from backchannel.mastodon_api import repository as repo
from backchannel.mastodon_api import scopes as scope_rules
from backchannel.people.models import Account
from backchannel.people.service import token_hash

INVALID_TOKEN = "The access token is invalid"
SUSPENDED = "Your login is currently disabled"
_MAX_TOKEN = 512


class NeedsUser(AppError):
    """An app token where a user is needed (Mastodon answers 422)."""

    status = 422


@dataclass(frozen=True)
class Caller:
    account: Account | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    app_id: int | None = None
    token_hash: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.token_hash is not None

    def allows(self, scope: str) -> bool:
        return scope_rules.covers(self.scopes, scope)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized(INVALID_TOKEN)
        return token.strip()
    return request.query_params.get("access_token") or None


async def resolve(services: Services, token: str | None) -> Caller:
    """The caller behind ``token`` (anonymous without one); Unauthorized if it is unknown."""
    if token is None:
        return Caller()
    if len(token) > _MAX_TOKEN:
        raise Unauthorized(INVALID_TOKEN)
    hashed = token_hash(token)
    async with services.sessionmaker() as session:
        found = await repo.user_token(session, hashed)
        if found is not None:
            account, granted = found
            if account.is_suspended:
                raise Unauthorized(SUSPENDED)
            app_id = await repo.token_app_id(session, hashed)
            return Caller(account, frozenset(granted.split()), app_id, hashed)
        app = await repo.app_token(session, hashed)
    if app is None:
        raise Unauthorized(INVALID_TOKEN)
    return Caller(None, frozenset(app.scopes.split()), app.app_id, hashed)


async def get_caller(request: Request) -> Caller:
    cached: Caller | None = getattr(request.state, "masto_caller", None)
    if cached is None:
        cached = await resolve(get_services(request), bearer_token(request))
        request.state.masto_caller = cached
    return cached


CallerDep = Annotated[Caller, Depends(get_caller)]


def check_scope(caller: Caller, scope: str) -> None:
    if caller.authenticated and not caller.allows(scope):
        raise Forbidden("This action is outside the authorized scopes")


def optional(scope: str) -> Callable[[Request], Coroutine[Any, Any, Caller]]:
    """Anyone may call; a token, if sent, must be valid and carry ``scope``."""

    async def dependency(request: Request) -> Caller:
        caller = await get_caller(request)
        check_scope(caller, scope)
        return caller

    return dependency


def user(scope: str | None) -> Callable[[Request], Coroutine[Any, Any, Caller]]:
    """A user's token with ``scope`` (None: with any scope)."""

    async def dependency(request: Request) -> Caller:
        caller = await get_caller(request)
        if not caller.authenticated:
            raise Unauthorized(INVALID_TOKEN)
        if scope is not None:
            check_scope(caller, scope)
        if caller.account is None:
            raise NeedsUser("This method requires an authenticated user")
        return caller

    return dependency


def account_of(caller: Caller) -> Account:
    assert caller.account is not None  # user() guarantees it
    return caller.account


ReadStatuses = Annotated[Caller, Depends(optional("read:statuses"))]
ReadAccounts = Annotated[Caller, Depends(optional("read:accounts"))]
UserReadStatuses = Annotated[Caller, Depends(user("read:statuses"))]
UserWriteStatuses = Annotated[Caller, Depends(user("write:statuses"))]
UserReadAccounts = Annotated[Caller, Depends(user("read:accounts"))]
UserReadFollows = Annotated[Caller, Depends(user("read:follows"))]
UserWriteFollows = Annotated[Caller, Depends(user("write:follows"))]
UserWriteFavourites = Annotated[Caller, Depends(user("write:favourites"))]
UserProfile = Annotated[Caller, Depends(user("profile"))]
#: Any user's token, whatever its scopes (Mastodon's announcements ask for no more).
SignedIn = Annotated[Caller, Depends(user(None))]
