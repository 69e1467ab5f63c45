"""Use cases for events: create, change and delete one; who may manage and moderate it.

Nothing here commits: these run inside the writer's transaction (``services.writer``).
Every function that returns an event returns it with its tags and sessions loaded.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.errors import Conflict, Forbidden, NotFound, Unprocessable
from backchannel.events import repository
from backchannel.events.models import Event, EventSession, EventTag, TagKind
from backchannel.events.schemas import EventCreate, EventUpdate, SessionIn, slug_from_tag
from backchannel.kit.clock import utcnow
from backchannel.kit.ids import new_id
from backchannel.people import repository as people_repository
from backchannel.people.models import Account, Role

#: When one tag is several kinds at once (a session tag that is also an alias), the
#: row keeps the strongest.
_STRENGTH = {TagKind.PRIMARY: 3, TagKind.ALIAS: 2, TagKind.SESSION: 1}


def tag_kinds(
    primary: str, aliases: Iterable[str], session_tags: Iterable[str | None]
) -> dict[str, TagKind]:
    """Every tag of an event with its kind: one entry per tag, the strongest kind."""
    kinds: dict[str, TagKind] = {}
    candidates = [
        (primary, TagKind.PRIMARY),
        *((alias, TagKind.ALIAS) for alias in aliases),
        *((tag, TagKind.SESSION) for tag in session_tags if tag is not None),
    ]
    for tag, kind in candidates:
        current = kinds.get(tag)
        if current is None or _STRENGTH[kind] > _STRENGTH[current]:
            kinds[tag] = kind
    return kinds


async def require_event(session: AsyncSession, slug: str, *, with_children: bool = False) -> Event:
    """The event with ``slug``, or a 404 every caller words the same way."""
    event = await repository.get_by_slug(session, slug, with_children=with_children)
    if event is None:
        raise NotFound(f"no event with the slug '{slug}'")
    return event


async def require_managed_event(
    session: AsyncSession, slug: str, account: Account, *, with_children: bool = False
) -> Event:
    """``require_event``, and a 403 unless ``account`` may manage it."""
    event = await require_event(session, slug, with_children=with_children)
    if not can_manage(account, event):
        raise Forbidden("only the event's owner or an admin can do this")
    return event


async def require_moderated_event(session: AsyncSession, slug: str, account: Account) -> Event:
    """``require_event``, and a 403 unless ``account`` may moderate it."""
    event = await require_event(session, slug)
    if not await can_moderate(session, account, event):
        raise Forbidden("only this event's moderators can do this")
    return event


async def create_event(session: AsyncSession, data: EventCreate, owner: Account) -> Event:
    slug = data.slug or slug_from_tag(data.primary_tag)
    if slug is None:
        raise Unprocessable(f"slug: the primary tag '{data.primary_tag}' gives no slug; choose one")
    await _check_slug_free(session, slug, None)
    await _check_primary_free(session, data.primary_tag, None)
    sessions = [_session_row(s) for s in data.sessions]
    kinds = tag_kinds(data.primary_tag, data.aliases, (s.tag for s in sessions))
    event = Event(
        id=new_id(),
        slug=slug,
        name=data.name,
        description=data.description,
        primary_tag=data.primary_tag,
        timezone=data.timezone,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        languages=list(data.languages),
        moderation_mode=data.moderation_mode.value,
        rules=data.rules.model_dump(mode="json"),
        owner_id=owner.id,
        tags=[EventTag(tag=tag, kind=kind.value) for tag, kind in kinds.items()],
        sessions=sessions,
    )
    session.add(event)
    await _flush(session, slug)
    return await _reload(session, event)


async def update_event(session: AsyncSession, event: Event, data: EventUpdate) -> Event:
    """Change only the fields ``data`` gives; ``event`` must have its children loaded."""
    given = data.model_fields_set
    if data.slug is not None and data.slug != event.slug:
        await _check_slug_free(session, data.slug, event.id)
        event.slug = data.slug
    if data.primary_tag is not None and data.primary_tag != event.primary_tag:
        await _check_primary_free(session, data.primary_tag, event.id)
    starts_at = data.starts_at or event.starts_at
    ends_at = data.ends_at or event.ends_at
    if starts_at is not None and ends_at is not None and ends_at < starts_at:
        raise Unprocessable("ends_at: must not be before starts_at")

    if data.name is not None:
        event.name = data.name
    if data.description is not None:
        event.description = data.description
    if data.timezone is not None:
        event.timezone = data.timezone
    if data.languages is not None:
        event.languages = list(data.languages)
    if data.moderation_mode is not None:
        event.moderation_mode = data.moderation_mode.value
    if data.rules is not None:
        event.rules = data.rules.model_dump(mode="json")
    event.starts_at = starts_at
    event.ends_at = ends_at
    if data.sessions is not None:
        event.sessions = [_session_row(s) for s in data.sessions]
    if given & {"primary_tag", "aliases", "sessions"}:
        primary = data.primary_tag or event.primary_tag
        if data.aliases is not None:
            aliases = data.aliases
        else:
            aliases = [row.tag for row in event.tags if row.kind == TagKind.ALIAS]
        event.primary_tag = primary
        _replace_tags(
            event,
            tag_kinds(
                primary, (a for a in aliases if a != primary), (s.tag for s in event.sessions)
            ),
        )
    event.updated_at = utcnow()
    await _flush(session, event.slug)
    return await _reload(session, event)


async def delete_event(session: AsyncSession, event: Event) -> None:
    """Delete the event with everything that hangs on it (tags, sessions, its wall)."""
    await repository.delete_event(session, event.id)
    if event in session:
        session.expunge(event)


def can_manage(account: Account, event: Event) -> bool:
    """Admins and the event's owner may change it, delete it and name its moderators."""
    return account.role == Role.ADMIN or (
        event.owner_id is not None and event.owner_id == account.id
    )


async def can_moderate(session: AsyncSession, account: Account, event: Event) -> bool:
    """Admins, instance-wide moderators, the owner, and the event's own moderators."""
    if account.role in (Role.ADMIN, Role.MODERATOR) or can_manage(account, event):
        return True
    return await repository.is_moderator(session, event.id, account.id)


async def add_moderator(session: AsyncSession, event: Event, username: str) -> Account:
    """Make a local account a moderator of the event (again is fine)."""
    account = await _local_account(session, username)
    await repository.add_moderator(session, event.id, account.id)
    return account


async def remove_moderator(session: AsyncSession, event: Event, username: str) -> None:
    account = await _local_account(session, username)
    if not await repository.remove_moderator(session, event.id, account.id):
        raise NotFound(f"'{account.username}' is not a moderator of '{event.slug}'")


async def _local_account(session: AsyncSession, username: str) -> Account:
    # Usernames are stored lowercased (sign-in and bans ignore case too).
    account = await people_repository.get_local_by_username(
        session, username.strip().removeprefix("@").lower()
    )
    if account is None:
        raise NotFound(f"no local account with the username '{username}'")
    return account


def _session_row(data: SessionIn) -> EventSession:
    return EventSession(
        id=new_id(),
        title=data.title,
        speakers=list(data.speakers),
        room=data.room,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        tag=data.tag,
    )


def _replace_tags(event: Event, kinds: dict[str, TagKind]) -> None:
    """Bring ``event.tags`` to ``kinds``, touching only the rows that differ."""
    for row in list(event.tags):
        kind = kinds.pop(row.tag, None)
        if kind is None:
            event.tags.remove(row)
        elif row.kind != kind:
            row.kind = kind.value
    event.tags.extend(EventTag(tag=tag, kind=kind.value) for tag, kind in kinds.items())


async def _check_slug_free(session: AsyncSession, slug: str, event_id: int | None) -> None:
    if await repository.slug_taken(session, slug, event_id):
        raise Conflict(f"the slug '{slug}' is taken by another event; choose another")


async def _check_primary_free(session: AsyncSession, tag: str, event_id: int | None) -> None:
    if await repository.tags_in_use(session, [tag], event_id):
        raise Conflict(
            f"'#{tag}' is already the primary tag of another event;"
            " add it as an alias, or choose another primary tag"
        )


async def _flush(session: AsyncSession, slug: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        # Another process took the slug between our check and this write.
        if "slug" in str(exc.orig):
            raise Conflict(f"the slug '{slug}' is taken by another event; choose another") from None
        raise


async def _reload(session: AsyncSession, event: Event) -> Event:
    """The event with its children as the database now has them (sessions in time order)."""
    session.expire(event, ["tags", "sessions"])
    loaded = await repository.get_by_id(session, event.id)
    if loaded is None:  # only if something deleted it inside this very transaction
        raise NotFound("the event is gone")
    return loaded
