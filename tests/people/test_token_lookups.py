"""Bearer tokens looked up in batches: many waiting requests share one query, and every
request still sees the token as it is when it arrives (revoked, suspended)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.people import service as people
from backchannel.people.models import Account
from backchannel.people.token_lookups import TokenLookups

Maker = async_sessionmaker[AsyncSession]


async def account_with_token(sessionmaker: Maker, name: str) -> tuple[Account, str]:
    async with sessionmaker() as session, session.begin():
        account = await people.create_local_account(
            session, name, "correct-horse-battery", "attendee"
        )
        token = await people.issue_token(session, account)
    return account, token


@pytest.fixture
def token_selects(sessionmaker: Maker) -> Iterator[list[str]]:
    """The SELECTs on ``api_tokens`` the engine runs during the test."""
    seen: list[str] = []
    engine = sessionmaker.kw["bind"].sync_engine

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "api_tokens" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    yield seen
    event.remove(engine, "before_cursor_execute", before)


async def test_requests_waiting_together_share_one_query(
    sessionmaker: Maker, token_selects: list[str]
) -> None:
    alice, alice_token = await account_with_token(sessionmaker, "alice")
    bob, bob_token = await account_with_token(sessionmaker, "bob")
    lookups = TokenLookups(sessionmaker)
    token_selects.clear()

    found = await asyncio.gather(
        lookups.owner(alice_token),
        lookups.owner(bob_token),
        lookups.owner(alice_token),
        lookups.owner("not-a-token"),
    )

    assert [a.id if a else None for a in found] == [alice.id, bob.id, alice.id, None]
    assert len(token_selects) == 1


async def test_a_revoked_token_is_refused_with_the_next_request(sessionmaker: Maker) -> None:
    alice, token = await account_with_token(sessionmaker, "alice")
    lookups = TokenLookups(sessionmaker)
    first = await lookups.owner(token)
    assert first is not None and first.id == alice.id

    async with sessionmaker() as session, session.begin():
        assert await people.revoke_token(session, token)

    assert await lookups.owner(token) is None


async def test_a_suspended_owner_is_found_suspended(sessionmaker: Maker) -> None:
    alice, token = await account_with_token(sessionmaker, "alice")
    async with sessionmaker() as session, session.begin():
        stored = await session.get(Account, alice.id)
        assert stored is not None
        await people.suspend(session, stored, by=None)

    found = await TokenLookups(sessionmaker).owner(token)

    assert found is not None and found.is_suspended


async def test_no_token_and_a_huge_one_are_nobodys(sessionmaker: Maker) -> None:
    lookups = TokenLookups(sessionmaker)
    assert await lookups.owner("") is None
    assert await lookups.owner("x" * 10_000) is None


async def test_a_failed_query_fails_every_request_waiting_for_it(sessionmaker: Maker) -> None:
    def broken() -> Any:
        raise RuntimeError("the database is gone")

    lookups = TokenLookups(broken)  # type: ignore[arg-type]

    results = await asyncio.gather(lookups.owner("a"), lookups.owner("b"), return_exceptions=True)

    assert [type(r) for r in results] == [RuntimeError, RuntimeError]
    with pytest.raises(RuntimeError):
        await lookups.owner("c")  # and the next one tries again
