"""Every query about accounts and API tokens."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.people.models import Account, ApiToken

#: Ids are signed 64-bit; anything else cannot name a row (and PostgreSQL would refuse it).
_MAX_ID = (1 << 63) - 1


async def get_by_id(session: AsyncSession, account_id: int) -> Account | None:
    if not 0 < account_id <= _MAX_ID:
        return None
    return await session.get(Account, account_id)


async def get_by_acct(session: AsyncSession, acct: str) -> Account | None:
    return await session.scalar(select(Account).where(Account.acct == acct))


async def get_by_actor_uri(session: AsyncSession, actor_uri: str) -> Account | None:
    return await session.scalar(select(Account).where(Account.actor_uri == actor_uri))


async def get_local_by_username(session: AsyncSession, username: str) -> Account | None:
    # A local account's acct is its username, so the unique index on acct finds it.
    return await session.scalar(
        select(Account).where(Account.acct == username, Account.domain == "")
    )


async def insert_account(session: AsyncSession, account: Account) -> bool:
    """Store ``account`` now; False (and nothing stored) when its acct or actor id is taken.

    The savepoint keeps a clash (another process was faster) from spoiling the
    caller's transaction, so the caller can look the winner up and carry on.
    """
    try:
        async with session.begin_nested():
            session.add(account)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def list_local(session: AsyncSession, *, limit: int = 1000) -> Sequence[Account]:
    stmt = select(Account).where(Account.domain == "").order_by(Account.username).limit(limit)
    return (await session.scalars(stmt)).all()


def add_token(session: AsyncSession, token_hash: str, account_id: int, name: str = "") -> None:
    session.add(ApiToken(token_hash=token_hash, account_id=account_id, name=name))


# Built once: every request with a bearer token asks it.
_ACCOUNT_FOR_TOKEN = (
    select(Account)
    .join(ApiToken, ApiToken.account_id == Account.id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


async def account_for_token_hash(session: AsyncSession, token_hash: str) -> Account | None:
    return await session.scalar(_ACCOUNT_FOR_TOKEN, {"token_hash": token_hash})


_ACCOUNTS_FOR_TOKENS = (
    select(ApiToken.token_hash, Account)
    .join(Account, Account.id == ApiToken.account_id)
    .where(ApiToken.token_hash.in_(bindparam("token_hashes", expanding=True)))
)


async def accounts_for_token_hashes(
    session: AsyncSession, token_hashes: list[str]
) -> dict[str, Account]:
    """The accounts behind many tokens at once, by token hash (unknown ones left out)."""
    rows = await session.execute(_ACCOUNTS_FOR_TOKENS, {"token_hashes": token_hashes})
    return {hashed: account for hashed, account in rows}


async def delete_token(session: AsyncSession, token_hash: str) -> bool:
    """Forget a token; whether there was one."""
    result = await session.execute(
        delete(ApiToken).where(ApiToken.token_hash == token_hash).returning(ApiToken.token_hash)
    )
    return result.first() is not None
