"""Use cases for people: local accounts, sign-in, API tokens, remote authors.

Nothing here commits: reads take any session, writes run inside the writer's
transaction (``services.writer.submit``).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.errors import Conflict, Forbidden, Unprocessable
from backchannel.kit.clock import utcnow
from backchannel.kit.ids import new_id
from backchannel.people import repository
from backchannel.people.models import Account, Role
from backchannel.people.passwords import hash_password, verify_password
from backchannel.people.schemas import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    AuthorIn,
    clean_text,
    normalise_username,
)

log = logging.getLogger(__name__)

#: Longer than any token we issue; longer input is not worth hashing.
_MAX_TOKEN = 512


def token_hash(token: str) -> str:
    """What is stored for a bearer token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@functools.cache
def _dummy_hash() -> str:
    # Verified against when the username is unknown, so "no such user" takes as long
    # as "wrong password" and does not reveal which usernames exist.
    return hash_password(secrets.token_urlsafe(16))


async def create_local_account(
    session: AsyncSession,
    username: str,
    password: str,
    role: Role | str,
    display_name: str = "",
) -> Account:
    """A new local account; Conflict if the username is taken, Unprocessable if invalid."""
    try:
        username = normalise_username(username)
    except ValueError as exc:
        raise Unprocessable(f"username: {exc}") from None
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Unprocessable(f"password: must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long")
    try:
        role = Role(role)
    except ValueError:
        raise Unprocessable(f"role: must be one of {', '.join(r.value for r in Role)}") from None
    if await repository.get_by_acct(session, username) is not None:
        raise Conflict(f"the username {username!r} is taken")
    account = Account(
        id=new_id(),
        acct=username,
        username=username,
        domain="",
        source="local",
        display_name=clean_text(display_name, 255),
        role=role.value,
        # Argon2 is slow on purpose; keep the event loop free meanwhile.
        password_hash=await asyncio.to_thread(hash_password, password),
    )
    if not await repository.insert_account(session, account):
        raise Conflict(f"the username {username!r} is taken")
    return account


async def authenticate(session: AsyncSession, username: str, password: str) -> Account | None:
    """The local account with this username and password, else None (also when it is
    suspended).

    Takes about as long for an unknown username as for a wrong password.
    """
    account = await repository.get_local_by_username(session, username.strip().lower())
    stored = account.password_hash if account is not None else None
    if not await asyncio.to_thread(_check_password, stored, password):
        return None
    return _unless_suspended(account)


def _check_password(stored: str | None, password: str) -> bool:
    # Without a stored hash, still do the work of one check, then say no.
    matches = verify_password(stored or _dummy_hash(), password)
    return matches and stored is not None


async def issue_token(session: AsyncSession, account: Account, name: str = "") -> str:
    """A new bearer token for ``account``; only its hash is stored, so show it once."""
    token = secrets.token_urlsafe(32)
    repository.add_token(session, token_hash(token), account.id, clean_text(name, 255))
    return token


async def revoke_token(session: AsyncSession, token: str) -> bool:
    """Forget a bearer token; whether it existed."""
    if len(token) > _MAX_TOKEN:
        return False
    return await repository.delete_token(session, token_hash(token))


async def token_owner(session: AsyncSession, token: str) -> Account | None:
    """Whose bearer token this is, suspended or not; ``account_for_token`` is for sign-in."""
    if not token or len(token) > _MAX_TOKEN:
        return None
    return await repository.account_for_token_hash(session, token_hash(token))


async def account_for_token(session: AsyncSession, token: str) -> Account | None:
    """The account a bearer token signs in: None if unknown, revoked, or suspended."""
    return _unless_suspended(await token_owner(session, token))


async def account_by_id(session: AsyncSession, account_id: int) -> Account | None:
    """The account a page session signs in: None if gone or suspended."""
    if not isinstance(account_id, int) or isinstance(account_id, bool):
        return None  # a session cookie from an older version, say
    return _unless_suspended(await repository.get_by_id(session, account_id))


def _unless_suspended(account: Account | None) -> Account | None:
    # Looked up on every request (nothing is cached), so suspending works at once.
    return None if account is None or account.is_suspended else account


async def suspend(
    session: AsyncSession, account: Account, *, by: Account | None, reason: str = ""
) -> Account:
    """Suspend ``account``: its tokens and sessions stop working with the next request
    and its posts are refused. Nothing is revoked, so ``unsuspend`` restores it all.

    ``by`` is the admin who did it, None for the command line; the reason is logged.
    """
    if by is not None and account.id == by.id:
        raise Forbidden("you cannot suspend yourself")
    if account.suspended_at is None:
        account.suspended_at = utcnow()
        await session.flush()
    log.info("%s suspended %s: %s", _who(by), account.acct, clean_text(reason, 1000) or "-")
    return account


async def unsuspend(session: AsyncSession, account: Account, *, by: Account | None) -> Account:
    """Lift a suspension: the account's tokens and sessions work again."""
    if account.suspended_at is not None:
        account.suspended_at = None
        await session.flush()
    log.info("%s unsuspended %s", _who(by), account.acct)
    return account


def _who(by: Account | None) -> str:
    return by.acct if by is not None else "the command line"


async def account_by_acct(session: AsyncSession, acct: str) -> Account | None:
    """Find ``name`` (local) or ``name@domain`` (remote); a leading ``@`` is ignored."""
    name, sep, domain = acct.strip().removeprefix("@").partition("@")
    if not name:
        return None
    if not sep:
        return await repository.get_local_by_username(session, name.lower())
    return await repository.get_by_acct(session, f"{name}@{domain.lower()}")


async def upsert_remote_author(session: AsyncSession, author: AuthorIn) -> Account:
    """The account for a remote author, created or brought up to date.

    Found by actor id first (it survives a handle change, as Bluesky's DIDs do), then
    by acct. Changed profile fields are updated (an empty one keeps what is stored);
    an unchanged author writes nothing.
    """
    account = None
    if author.actor_uri is not None:
        account = await repository.get_by_actor_uri(session, author.actor_uri)
    if account is None:
        account = await repository.get_by_acct(session, author.acct)
    if account is None:
        account = _new_remote_account(author)
        if await repository.insert_account(session, account):
            return account
        # Someone else stored this author since we looked: use theirs.
        account = await _find(session, author)
        if account is None:
            raise Conflict(f"could not store the author {author.acct!r}")
    await _update_remote(session, account, author)
    return account


async def _find(session: AsyncSession, author: AuthorIn) -> Account | None:
    if author.actor_uri is not None:
        found = await repository.get_by_actor_uri(session, author.actor_uri)
        if found is not None:
            return found
    return await repository.get_by_acct(session, author.acct)


def _new_remote_account(author: AuthorIn) -> Account:
    username, _, domain = author.acct.partition("@")
    return Account(
        id=new_id(),
        acct=author.acct,
        username=username,
        domain=domain,
        source=author.source,
        display_name=author.display_name,
        note=author.note,
        avatar_url=author.avatar_url,
        profile_url=author.profile_url,
        actor_uri=author.actor_uri,
        bot=author.bot,
        opted_out=author.opted_out,
        role=None,
        password_hash=None,
    )


async def _update_remote(session: AsyncSession, account: Account, author: AuthorIn) -> None:
    if account.is_local:
        return  # a source never rewrites one of our own people
    if account.acct != author.acct and await repository.get_by_acct(session, author.acct) is None:
        # The handle changed (found by actor id) and the new one is free.
        account.acct = author.acct
        account.username, _, account.domain = author.acct.partition("@")
    if author.actor_uri is not None and account.actor_uri is None:
        account.actor_uri = author.actor_uri
    # A source that does not know a field sends it empty; that keeps what we have.
    for field, value in (
        ("display_name", author.display_name),
        ("note", author.note),
        ("avatar_url", author.avatar_url),
        ("profile_url", author.profile_url),
    ):
        if value and getattr(account, field) != value:
            setattr(account, field, value)
    if account.bot != author.bot:
        account.bot = author.bot
    if account.opted_out != author.opted_out:
        account.opted_out = author.opted_out


def local_author_acct(account: Account) -> str:
    """The handle moderation rules and mentions use: ``name`` here, ``name@domain`` remote."""
    return account.username if account.is_local else f"{account.username}@{account.domain}"
