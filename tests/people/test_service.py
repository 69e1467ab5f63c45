from __future__ import annotations

import hashlib

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.errors import Conflict, Unprocessable
from backchannel.people import service
from backchannel.people.models import Account, ApiToken, Role
from backchannel.people.schemas import AccountCreate, AuthorIn, account_json

Sessions = async_sessionmaker[AsyncSession]


async def make_alice(sessionmaker: Sessions) -> Account:
    async with sessionmaker() as s, s.begin():
        return await service.create_local_account(
            s, "Alice", "s3cret-pass", Role.MODERATOR, display_name="Alice A."
        )


def author(**fields: object) -> AuthorIn:
    data: dict[str, object] = {
        "acct": "bob@social.example",
        "display_name": "Bob",
        "actor_uri": "https://social.example/users/bob",
        "profile_url": "https://social.example/@bob",
        "avatar_url": "https://social.example/avatars/bob.png",
        "source": "activitypub",
    }
    data.update(fields)
    return AuthorIn.model_validate(data)


# Local accounts


async def test_create_local_account_stores_a_hashed_password(sessionmaker: Sessions) -> None:
    alice = await make_alice(sessionmaker)

    async with sessionmaker() as s:
        stored = await service.account_by_id(s, alice.id)
    assert stored is not None
    assert (stored.acct, stored.username, stored.domain) == ("alice", "alice", "")
    assert stored.role == "moderator" and stored.source == "local" and stored.is_local
    assert stored.display_name == "Alice A."
    assert stored.password_hash is not None and "s3cret-pass" not in stored.password_hash


async def test_a_taken_username_is_a_conflict(sessionmaker: Sessions) -> None:
    await make_alice(sessionmaker)

    async with sessionmaker() as s, s.begin():
        with pytest.raises(Conflict):
            await service.create_local_account(s, "ALICE", "another-pass", Role.ATTENDEE)


async def test_invalid_local_accounts_are_refused(sessionmaker: Sessions) -> None:
    async with sessionmaker() as s, s.begin():
        for username, password, role in [
            ("no spaces", "long-enough", "attendee"),
            ("", "long-enough", "attendee"),
            ("x" * 31, "long-enough", "attendee"),
            ("bob", "short", "attendee"),
            ("bob", "long-enough", "emperor"),
        ]:
            with pytest.raises(Unprocessable):
                await service.create_local_account(s, username, password, role)


async def test_authenticate_checks_the_password(sessionmaker: Sessions) -> None:
    alice = await make_alice(sessionmaker)

    async with sessionmaker() as s:
        found = await service.authenticate(s, " ALICE ", "s3cret-pass")
        assert found is not None and found.id == alice.id
        assert await service.authenticate(s, "alice", "wrong-pass") is None
        assert await service.authenticate(s, "nobody", "s3cret-pass") is None


async def test_remote_accounts_cannot_sign_in(sessionmaker: Sessions) -> None:
    async with sessionmaker() as s, s.begin():
        await service.upsert_remote_author(s, author())

    async with sessionmaker() as s:
        assert await service.authenticate(s, "bob", "") is None
        assert await service.authenticate(s, "bob@social.example", "") is None


# Tokens


async def test_a_token_finds_its_account_until_revoked(sessionmaker: Sessions) -> None:
    alice = await make_alice(sessionmaker)
    async with sessionmaker() as s, s.begin():
        token = await service.issue_token(s, alice, "laptop")

    async with sessionmaker() as s:
        found = await service.account_for_token(s, token)
        stored = (await s.scalars(select(ApiToken))).all()
    assert found is not None and found.id == alice.id
    # Only the hash is kept.
    assert [t.token_hash for t in stored] == [hashlib.sha256(token.encode()).hexdigest()]
    assert stored[0].name == "laptop"

    async with sessionmaker() as s, s.begin():
        assert await service.revoke_token(s, token)
        assert not await service.revoke_token(s, token)
    async with sessionmaker() as s:
        assert await service.account_for_token(s, token) is None


async def test_unknown_tokens_find_nobody(sessionmaker: Sessions) -> None:
    alice = await make_alice(sessionmaker)
    async with sessionmaker() as s, s.begin():
        token = await service.issue_token(s, alice)
        other = await service.issue_token(s, alice)
    assert token != other and len(token) >= 43

    async with sessionmaker() as s:
        assert await service.account_for_token(s, token + "x") is None
        assert await service.account_for_token(s, "") is None
        assert await service.account_for_token(s, "x" * 10_000) is None
        assert await service.account_by_id(s, 12345) is None
        assert await service.account_by_id(s, 1 << 70) is None


# Remote authors


async def test_upsert_remote_author_creates_an_account(sessionmaker: Sessions) -> None:
    async with sessionmaker() as s, s.begin():
        bob = await service.upsert_remote_author(s, author(bot=True))

    async with sessionmaker() as s:
        stored = await service.account_by_id(s, bob.id)
    assert stored is not None
    assert stored.acct == "bob@social.example"
    assert (stored.username, stored.domain) == ("bob", "social.example")
    assert stored.source == "activitypub" and stored.bot and not stored.is_local
    assert stored.role is None and stored.password_hash is None
    assert stored.actor_uri == "https://social.example/users/bob"
    assert service.local_author_acct(stored) == "bob@social.example"


async def test_upsert_remote_author_updates_what_changed(sessionmaker: Sessions) -> None:
    async with sessionmaker() as s, s.begin():
        first = await service.upsert_remote_author(s, author())

    changed = author(
        display_name="Bob B.",
        avatar_url="https://social.example/avatars/new.png",
        opted_out=True,
    )
    async with sessionmaker() as s, s.begin():
        again = await service.upsert_remote_author(s, changed)
    assert again.id == first.id

    async with sessionmaker() as s:
        stored = await service.account_by_id(s, first.id)
        count = len((await s.scalars(select(Account))).all())
    assert stored is not None and count == 1
    assert stored.display_name == "Bob B."
    assert stored.avatar_url == "https://social.example/avatars/new.png"
    assert stored.opted_out


async def test_upsert_remote_author_follows_a_changed_handle(sessionmaker: Sessions) -> None:
    did = "did:plc:abc123"
    async with sessionmaker() as s, s.begin():
        first = await service.upsert_remote_author(
            s, author(acct="old.bsky.social@bsky.app", actor_uri=did, source="bluesky")
        )
    async with sessionmaker() as s, s.begin():
        again = await service.upsert_remote_author(
            s, author(acct="new.example@bsky.app", actor_uri=did, source="bluesky")
        )

    assert again.id == first.id
    async with sessionmaker() as s:
        assert await service.account_by_acct(s, "@new.example@BSKY.app") is not None
        assert await service.account_by_acct(s, "old.bsky.social@bsky.app") is None


async def test_upsert_remote_author_finds_by_acct_without_actor_id(
    sessionmaker: Sessions,
) -> None:
    async with sessionmaker() as s, s.begin():
        first = await service.upsert_remote_author(s, author(actor_uri=None, source="feed"))
        again = await service.upsert_remote_author(s, author())

    assert again.id == first.id
    assert again.actor_uri == "https://social.example/users/bob"


async def test_an_author_twice_in_one_transaction_is_one_account(sessionmaker: Sessions) -> None:
    async with sessionmaker() as s, s.begin():
        first = await service.upsert_remote_author(s, author())
        again = await service.upsert_remote_author(s, author())
    assert first.id == again.id


async def test_local_author_acct_is_the_bare_username(sessionmaker: Sessions) -> None:
    alice = await make_alice(sessionmaker)
    assert service.local_author_acct(alice) == "alice"


# Schemas


def test_author_in_drops_unsafe_urls() -> None:
    parsed = author(
        avatar_url="javascript:alert(1)",
        profile_url="data:text/html,<script>alert(1)</script>",
        actor_uri="javascript:alert(1)",
    )

    assert parsed.avatar_url is None
    assert parsed.profile_url is None
    assert parsed.actor_uri is None


def test_author_in_normalises_acct_and_names() -> None:
    parsed = author(acct="@Bob@Social.EXAMPLE", display_name=" Bob\x00\u202e \n", note="a\nb")

    assert parsed.acct == "Bob@social.example"
    assert parsed.display_name == "Bob"
    assert parsed.note == "a\nb"
    assert len(author(display_name="x" * 1000).display_name) == 255


@pytest.mark.parametrize(
    "acct",
    ["bob", "bob@", "@social.example", "bob@a@b.example", "b ob@x.example", "", "x" * 320 + "@y"],
)
def test_author_in_rejects_a_bad_acct(acct: str) -> None:
    with pytest.raises(ValidationError):
        author(acct=acct)


def test_author_in_rejects_unknown_fields_and_sources() -> None:
    with pytest.raises(ValidationError):
        author(followers=3)
    with pytest.raises(ValidationError):
        author(source="myspace")


def test_account_create_lowercases_and_checks_the_username() -> None:
    body = AccountCreate(username="Alice_1", password="12345678", role=Role.ADMIN)
    assert body.username == "alice_1"
    for username in ["", "a-b", "x" * 31, "ä"]:
        with pytest.raises(ValidationError):
            AccountCreate(username=username, password="12345678", role=Role.ADMIN)
    with pytest.raises(ValidationError):
        AccountCreate(username="bob", password="1234567", role=Role.ADMIN)


async def test_account_json(sessionmaker: Sessions) -> None:
    alice = await make_alice(sessionmaker)
    async with sessionmaker() as s, s.begin():
        bob = await service.upsert_remote_author(s, author())

    assert account_json(alice, "https://bc.example") == {
        "id": str(alice.id),
        "acct": "alice",
        "username": "alice",
        "domain": "",
        "display_name": "Alice A.",
        "avatar": None,
        "url": "https://bc.example/@alice",
        "source": "local",
        "bot": False,
        "role": "moderator",
        "suspended": False,
    }
    remote = account_json(bob, "https://bc.example")
    assert remote["url"] == "https://social.example/@bob"
    assert remote["role"] is None and remote["domain"] == "social.example"
