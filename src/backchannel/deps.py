"""What a request can ask for: the app's services, a read session, the signed-in account."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backchannel.broker.base import Broker
from backchannel.config import Settings
from backchannel.db.writer import Writer
from backchannel.errors import Forbidden, Unauthorized
from backchannel.kit import csrf
from backchannel.people.models import Account, Role
from backchannel.people.token_lookups import TokenLookups
from backchannel.streams.hub import StreamHub


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    broker: Broker
    hub: StreamHub
    writer: Writer
    #: Wakes the in-process job runner after a commit that enqueued a job.
    wake_jobs: Callable[[], None] = field(default=lambda: None)
    extra: dict[str, Any] = field(default_factory=dict)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _services(request: Request) -> Services:
    # A coroutine, so FastAPI calls it on the loop: a plain function dependency is run
    # in the thread pool, a hop there and back on every request.
    return get_services(request)


ServicesDep = Annotated[Services, Depends(_services)]


async def get_session(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    """A session for reads; writes go through ``services.writer``."""
    async with services.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_account(request: Request, services: ServicesDep) -> Account | None:
    """The account behind a bearer token or the page session cookie, if any."""
    from backchannel.people import service as people

    cached: Account | None = getattr(request.state, "account", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("the Authorization header must be 'Bearer TOKEN'")
        account = await token_lookups(services).owner(token.strip())
        if account is None:
            raise Unauthorized("the access token is invalid or was revoked")
        if account.is_suspended:
            raise Unauthorized("this account is suspended")
    else:
        async with services.sessionmaker() as session:
            # A suspended account's page session counts as no sign-in.
            account_id = request.session.get("account_id") if "session" in request.scope else None
            account = await people.account_by_id(session, account_id) if account_id else None
        if (
            account is not None
            and request.method not in csrf.SAFE_METHODS
            and not csrf.is_valid(request.session, request.headers.get(csrf.HEADER))
        ):
            # A browser sends the cookie on its own; see backchannel.kit.csrf.
            raise Forbidden(
                "a write signed in with the page session needs the page's X-CSRF-Token"
                " header (or use 'Authorization: Bearer TOKEN')"
            )
    request.state.account = account
    return account


def token_lookups(services: Services) -> TokenLookups:
    # One per app (made on first use, kept with the services).
    found = services.extra.get("token_lookups")
    if not isinstance(found, TokenLookups):
        found = services.extra["token_lookups"] = TokenLookups(services.sessionmaker)
    return found


MaybeAccountDep = Annotated[Account | None, Depends(get_account)]


async def require_account(account: MaybeAccountDep) -> Account:
    if account is None:
        raise Unauthorized("sign in first: send 'Authorization: Bearer TOKEN'")
    return account


AccountDep = Annotated[Account, Depends(require_account)]


def require_role(*roles: Role) -> Callable[[Account], Coroutine[Any, Any, Account]]:
    allowed = {r.value for r in roles} | {Role.ADMIN.value}

    async def check(account: AccountDep) -> Account:
        if account.role not in allowed:
            names = " or ".join(sorted(allowed))
            raise Forbidden(f"this needs the role {names}")
        return account

    return check


OrganiserDep = Annotated[Account, Depends(require_role(Role.ORGANISER))]
AdminDep = Annotated[Account, Depends(require_role())]
