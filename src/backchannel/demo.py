"""The demo event: accounts, an event with aliases and sessions, and a minute of posts
from every kind of source, so that every live view moves."""

from __future__ import annotations

import asyncio
import random
import secrets
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.progress import Progress
from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.config import Settings
from backchannel.db.engine import engine_for, make_sessionmaker
from backchannel.db.writer import UnitOfWork
from backchannel.deps import Services
from backchannel.events import repository as events_repo
from backchannel.events import service as events_service
from backchannel.events.schemas import EventCreate
from backchannel.kit.clock import utcnow
from backchannel.people import repository as people_repo
from backchannel.people import service as people
from backchannel.people.models import Account, Role
from backchannel.people.passwords import hash_password
from backchannel.people.schemas import AuthorIn
from backchannel.posts import service as posts
from backchannel.posts.models import SourceKind
from backchannel.posts.schemas import PostIn

DEMO_SLUG = "dsd26"
ACCOUNTS = {"organiser": Role.ORGANISER, "moderator": Role.MODERATOR}

AUTHORS = [
    ("mastodon", "anna@social.example", "Anna Berger"),
    ("mastodon", "jonas@norden.example", "Jonas Petersen"),
    ("bluesky", "mia.bsky.example", "Mia Schulz"),
    ("bluesky", "tom.bsky.example", "Tom Becker"),
    ("feed", "blog@ahoi.example", "Ahoi Blog"),
    ("mastodon", "spammer@flood.example", "Cheap Likes"),
]
LINES = [
    "Good morning from the hall! Who else is here? #dsd26",
    "The keynote says digital skills are for everyone — agreed, but who pays "
    "for the training? #dsd26keynote",
    "Slides are online, and they have alt text. Thank you! #digitalskills26",
    "Coffee corner, left of the stage: come say hi #dsday",
    "Question for the panel: how do small towns keep their people online? #dsd26panel",
    "Longer thoughts on today in my blog, link soon #dsd26",
    "Great to finally meet the people I only knew from their posts #dsd26",
    "Bought followers cheap, click here: spam spam #dsd26",
    "Mir fehlt die Perspektive der Schulen in dieser Diskussion #dsd26panel",
    "Open networks mean nobody owns the conversation. That's the point. #dsd26",
]


def demo_event() -> EventCreate:
    start = utcnow().replace(minute=0, second=0, microsecond=0)
    return EventCreate.model_validate(
        {
            "name": "Digital Skills Day 2026",
            "slug": DEMO_SLUG,
            "primary_tag": "dsd26",
            "aliases": ["digitalskills26", "dsday"],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=8)).isoformat(),
            "timezone": "Europe/Berlin",
            "languages": ["en", "de"],
            "description": "A day on the skills a digital society needs. "
            "Post under #dsd26 from wherever you are.",
            "moderation_mode": "after_the_fact",
            "rules": {"blocked_words": ["spam"], "rate_limit": {"posts": 10, "seconds": 60}},
            "sessions": [
                {
                    "title": "Keynote: skills for everyone",
                    "speakers": ["Dr. Ruth Adler"],
                    "room": "Hall A",
                    "starts_at": (start + timedelta(hours=1)).isoformat(),
                    "ends_at": (start + timedelta(hours=2)).isoformat(),
                    "tag": "dsd26keynote",
                },
                {
                    "title": "Panel: open networks for small towns",
                    "speakers": ["Lena Vogt", "Ahmet Kaya"],
                    "room": "Hall B",
                    "starts_at": (start + timedelta(hours=3)).isoformat(),
                    "ends_at": (start + timedelta(hours=4)).isoformat(),
                    "tag": "dsd26panel",
                },
            ],
        }
    )


async def _ensure_account(session: AsyncSession, name: str, role: Role, password: str) -> Account:
    account = await people_repo.get_local_by_username(session, name)
    if account is None:
        return await people.create_local_account(session, name, password, role)
    account.password_hash = hash_password(password)
    return account


async def prepare_demo(settings: Settings) -> dict[str, str]:
    """Create (or refresh) the demo accounts and event. Returns the sign-in passwords."""
    credentials = {name: secrets.token_urlsafe(9) for name in ACCOUNTS}
    engine = engine_for(settings)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            accounts = {
                name: await _ensure_account(session, name, role, credentials[name])
                for name, role in ACCOUNTS.items()
            }
            event = await events_repo.get_by_slug(session, DEMO_SLUG)
            if event is None:
                event = await events_service.create_event(
                    session, demo_event(), accounts["organiser"]
                )
            if not await events_repo.is_moderator(session, event.id, accounts["moderator"].id):
                await events_repo.add_moderator(session, event.id, accounts["moderator"].id)
    finally:
        await engine.dispose()
    return credentials


def _demo_post(n: int, rng: random.Random) -> PostIn:
    source, acct, name = rng.choice(AUTHORS)
    text = rng.choice(LINES)
    if "spam" in text:
        source, acct, name = AUTHORS[-1]
    host = acct.split("@")[-1]
    kind = {"mastodon": SourceKind.MASTODON, "bluesky": SourceKind.BLUESKY}.get(
        source, SourceKind.FEED
    )
    uri = f"https://{host}/demo/{secrets.token_hex(6)}-{n}"
    username = acct.split("@")[0]
    return PostIn(
        source=kind,
        source_uri=uri,
        url=uri,
        author=AuthorIn(
            acct=acct if "@" in acct else f"{acct}@bsky.app",
            display_name=name,
            profile_url=f"https://{host}/@{username}",
            source=kind.value,
        ),
        content_html=f"<p>{text}</p>",
        spoiler_text="Opinions on funding" if "pays" in text else "",
    )


async def play_demo(services: Services, seconds: float, console: Console) -> int:
    """Ingest demo posts for ``seconds``, through the same door as every source."""
    rng = random.Random()
    base = services.settings.public_url()
    count = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Playing demo posts", total=seconds)
        while loop.time() < end:
            data = _demo_post(count, rng)

            async def write(uow: UnitOfWork, data: PostIn = data) -> Any:
                return await posts.ingest(uow, data, base_url=base)

            await services.writer.submit(write)
            count += 1
            await asyncio.sleep(rng.uniform(0.3, 1.5))
            progress.update(task, completed=seconds - max(0.0, end - loop.time()))
    console.print(f"[green]✓[/] played {count} demo posts; the server keeps running")
    return count
