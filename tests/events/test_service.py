"""Events in the database: create, change, delete; ingest's tag lookup; who may moderate."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.errors import Conflict, NotFound, Unprocessable
from backchannel.events import repository, service
from backchannel.events.models import Event, EventSession, EventTag, TagKind
from backchannel.events.schemas import EventCreate, EventUpdate
from backchannel.kit.ids import new_id
from backchannel.people.models import Account, Role

Maker = async_sessionmaker[AsyncSession]


def event_body(**changes: Any) -> EventCreate:
    data: dict[str, Any] = {
        "name": "Digitale Kompetenzen 2025",
        "primary_tag": "#DK2025",
        "aliases": ["#dk25", "#DigitalSkills"],
        "starts_at": "2025-05-14T09:00:00+02:00",
        "ends_at": "2025-05-15T18:00:00+02:00",
        "timezone": "Europe/Berlin",
        "sessions": [
            {
                "title": "Panel",
                "starts_at": "2025-05-14T11:00:00+02:00",
                "ends_at": "2025-05-14T12:00:00+02:00",
                "tag": "#dk25",
            },
            {
                "title": "Keynote",
                "speakers": ["Ada"],
                "room": "Hall A",
                "starts_at": "2025-05-14T09:00:00+02:00",
                "ends_at": "2025-05-14T10:00:00+02:00",
                "tag": "#DKKeynote",
            },
        ],
    }
    data.update(changes)
    return EventCreate.model_validate(data)


async def add_account(maker: Maker, username: str, role: Role | None) -> Account:
    account = Account(
        id=new_id(), acct=username, username=username, role=None if role is None else role.value
    )
    async with maker() as session, session.begin():
        session.add(account)
    return account


@pytest.fixture
async def organiser(sessionmaker: Maker) -> Account:
    return await add_account(sessionmaker, "olga", Role.ORGANISER)


async def create(maker: Maker, data: EventCreate, owner: Account) -> Event:
    async with maker() as session, session.begin():
        return await service.create_event(session, data, owner)


def tag_rows(event: Event) -> dict[str, str]:
    return {row.tag: row.kind for row in event.tags}


async def test_create_writes_the_event_its_sessions_and_tags(
    sessionmaker: Maker, organiser: Account
) -> None:
    event = await create(sessionmaker, event_body(), organiser)

    assert event.slug == "dk2025" and event.owner_id == organiser.id
    # The alias that is also a session's tag is one row, as an alias.
    assert tag_rows(event) == {
        "dk2025": TagKind.PRIMARY,
        "dk25": TagKind.ALIAS,
        "digitalskills": TagKind.ALIAS,
        "dkkeynote": TagKind.SESSION,
    }
    assert [s.title for s in event.sessions] == ["Keynote", "Panel"]
    async with sessionmaker() as session:
        stored = await repository.get_by_slug(session, "dk2025")
    assert stored is not None and stored.id == event.id
    assert stored.timezone == "Europe/Berlin" and stored.rules["blocked_words"] == []
    assert stored.sessions[0].speakers == ["Ada"] and stored.sessions[0].room == "Hall A"
    assert stored.starts_at is not None and stored.starts_at.isoformat() == (
        "2025-05-14T07:00:00+00:00"
    )


async def test_events_for_tags_finds_the_event_by_primary_alias_and_session_tag(
    sessionmaker: Maker, organiser: Account
) -> None:
    event = await create(sessionmaker, event_body(), organiser)
    other = await create(
        sessionmaker,
        event_body(name="Other", primary_tag="other", aliases=["dk25"], sessions=[]),
        organiser,
    )
    async with sessionmaker() as session:
        for tag in ("dk2025", "digitalskills", "dkkeynote"):
            found = await repository.events_for_tags(session, [tag])
            assert list(found) == [event.id]
            assert found[event.id][1] == {tag}
        both = await repository.events_for_tags(session, {"dk25", "dkkeynote", "unrelated"})
        assert both[event.id][1] == {"dk25", "dkkeynote"}
        assert both[other.id][1] == {"dk25"}
        assert both[other.id][0].slug == "other"
        assert await repository.events_for_tags(session, ["unrelated"]) == {}
        assert await repository.events_for_tags(session, []) == {}


async def test_a_taken_slug_or_primary_tag_is_a_conflict(
    sessionmaker: Maker, organiser: Account
) -> None:
    await create(sessionmaker, event_body(), organiser)
    with pytest.raises(Conflict, match="slug 'dk2025'"):
        await create(sessionmaker, event_body(primary_tag="other", slug="DK2025"), organiser)
    with pytest.raises(Conflict, match="'#dk2025' is already the primary tag"):
        await create(sessionmaker, event_body(slug="another"), organiser)
    # As an alias of another event the tag is fine: a post then counts for both.
    second = await create(
        sessionmaker,
        event_body(primary_tag="second", aliases=["dk2025"], sessions=[]),
        organiser,
    )
    assert tag_rows(second) == {"second": TagKind.PRIMARY, "dk2025": TagKind.ALIAS}


async def test_update_changes_only_what_was_given_and_replaces_lists(
    sessionmaker: Maker, organiser: Account
) -> None:
    created = await create(sessionmaker, event_body(), organiser)
    patch = EventUpdate.model_validate(
        {
            "name": "DK 2025",
            "aliases": ["#dk_25", "#DK2025"],
            "sessions": [
                {
                    "title": "Closing",
                    "starts_at": "2025-05-15T17:00:00+02:00",
                    "ends_at": "2025-05-15T18:00:00+02:00",
                    "tag": "dkclosing",
                }
            ],
        }
    )
    async with sessionmaker() as session, session.begin():
        event = await repository.get_by_slug(session, "dk2025")
        assert event is not None
        updated = await service.update_event(session, event, patch)

    assert updated.name == "DK 2025"
    assert updated.timezone == "Europe/Berlin" and updated.description == ""
    assert tag_rows(updated) == {
        "dk2025": TagKind.PRIMARY,
        "dk_25": TagKind.ALIAS,
        "dkclosing": TagKind.SESSION,
    }
    assert [s.title for s in updated.sessions] == ["Closing"]
    assert updated.updated_at > created.updated_at
    async with sessionmaker() as session:
        assert await repository.events_for_tags(session, ["dk25", "dkkeynote"]) == {}
        stored = await repository.get_by_id(session, created.id)
        assert stored is not None and tag_rows(stored) == tag_rows(updated)
        sessions = await session.scalar(select(func.count()).select_from(EventSession))
        assert sessions == 1


async def test_update_of_the_primary_tag_keeps_the_aliases(
    sessionmaker: Maker, organiser: Account
) -> None:
    await create(sessionmaker, event_body(), organiser)
    await create(sessionmaker, event_body(primary_tag="taken", sessions=[]), organiser)
    async with sessionmaker() as session, session.begin():
        event = await repository.get_by_slug(session, "dk2025")
        assert event is not None
        with pytest.raises(Conflict):
            await service.update_event(
                session, event, EventUpdate.model_validate({"primary_tag": "#Taken"})
            )
    async with sessionmaker() as session, session.begin():
        event = await repository.get_by_slug(session, "dk2025")
        assert event is not None
        # The old alias becomes the primary: one row, as the primary.
        patch = EventUpdate.model_validate({"primary_tag": "#dk25", "slug": "dk25"})
        updated = await service.update_event(session, event, patch)
    assert updated.primary_tag == "dk25" and updated.slug == "dk25"
    assert tag_rows(updated) == {
        "dk25": TagKind.PRIMARY,
        "digitalskills": TagKind.ALIAS,
        "dkkeynote": TagKind.SESSION,
    }


async def test_update_checks_times_against_the_stored_ones(
    sessionmaker: Maker, organiser: Account
) -> None:
    await create(sessionmaker, event_body(), organiser)
    async with sessionmaker() as session, session.begin():
        event = await repository.get_by_slug(session, "dk2025")
        assert event is not None
        patch = EventUpdate.model_validate({"ends_at": "2025-05-01T00:00:00Z"})
        with pytest.raises(Unprocessable, match="ends_at"):
            await service.update_event(session, event, patch)


async def test_delete_removes_the_event_and_its_children(
    sessionmaker: Maker, organiser: Account
) -> None:
    event = await create(sessionmaker, event_body(), organiser)
    async with sessionmaker() as session, session.begin():
        await repository.add_moderator(session, event.id, organiser.id)
        loaded = await repository.get_by_slug(session, "dk2025", with_children=False)
        assert loaded is not None
        await service.delete_event(session, loaded)
    async with sessionmaker() as session:
        assert await repository.get_by_slug(session, "dk2025") is None
        assert await session.scalar(select(func.count()).select_from(EventTag)) == 0
        assert await session.scalar(select(func.count()).select_from(EventSession)) == 0
        assert await repository.list_moderators(session, event.id) == []


async def test_who_may_manage_and_moderate(sessionmaker: Maker, organiser: Account) -> None:
    event = await create(sessionmaker, event_body(), organiser)
    admin = await add_account(sessionmaker, "root", Role.ADMIN)
    staff = await add_account(sessionmaker, "mia", Role.MODERATOR)
    other_organiser = await add_account(sessionmaker, "otto", Role.ORGANISER)
    attendee = await add_account(sessionmaker, "anna", Role.ATTENDEE)
    helper = await add_account(sessionmaker, "hugo", None)

    assert service.can_manage(organiser, event) and service.can_manage(admin, event)
    for account in (staff, other_organiser, attendee, helper):
        assert not service.can_manage(account, event)

    async with sessionmaker() as session, session.begin():
        assert (await service.add_moderator(session, event, "hugo")).id == helper.id
        # Naming someone twice is fine.
        await service.add_moderator(session, event, "@hugo")
        with pytest.raises(NotFound, match="'nobody'"):
            await service.add_moderator(session, event, "nobody")

    async with sessionmaker() as session:
        for account in (admin, staff, organiser, helper):
            assert await service.can_moderate(session, account, event), account.username
        for account in (other_organiser, attendee):
            assert not await service.can_moderate(session, account, event), account.username
        assert [a.username for a in await repository.list_moderators(session, event.id)] == ["hugo"]

    async with sessionmaker() as session, session.begin():
        await service.remove_moderator(session, event, "hugo")
        with pytest.raises(NotFound, match="not a moderator"):
            await service.remove_moderator(session, event, "hugo")
    async with sessionmaker() as session:
        assert not await service.can_moderate(session, helper, event)


async def test_list_events_latest_first(sessionmaker: Maker, organiser: Account) -> None:
    await create(sessionmaker, event_body(), organiser)
    await create(
        sessionmaker,
        event_body(
            primary_tag="later",
            starts_at="2026-01-01T00:00:00Z",
            ends_at="2026-01-02T00:00:00Z",
            sessions=[],
        ),
        organiser,
    )
    async with sessionmaker() as session:
        events = await repository.list_events(session, limit=10, offset=0)
        assert [e.slug for e in events] == ["later", "dk2025"]
        assert len(events[1].sessions) == 2
        assert [e.slug for e in await repository.list_events(session, limit=1, offset=1)] == [
            "dk2025"
        ]
