"""Use cases for connectors: add, change and remove them per event, import feeds from
OPML, and fold the enabled ones into the runtimes the supervisor keeps running."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.config import Settings
from backchannel.connectors import repository as repo
from backchannel.connectors.base import Spec
from backchannel.connectors.models import Connector, ConnectorKind, ConnectorStatus
from backchannel.connectors.schemas import (
    BlueskyIn,
    ConnectorUpdate,
    FeedIn,
    MastodonIn,
    feed_url,
)
from backchannel.errors import BadRequest, Conflict
from backchannel.events.models import Event
from backchannel.kit.clock import utcnow
from backchannel.kit.ids import new_id

#: Connectors keep listening this long after their event ends (people post after).
AFTER_END = timedelta(days=7)
#: A feed registered to an event brings entries from this long before it starts.
FEED_LEAD = timedelta(days=30)


class FeedEntry(Protocol):
    """A feed as an OPML file names it (``connectors.opml.OpmlFeed``)."""

    @property
    def url(self) -> str: ...

    @property
    def title(self) -> str: ...


def _target_and_config(data: BlueskyIn | MastodonIn | FeedIn) -> tuple[str, dict[str, Any]]:
    if isinstance(data, MastodonIn):
        config: dict[str, Any] = {}
        if data.token:
            config["token"] = data.token
        if data.poll_seconds is not None:
            config["poll_seconds"] = data.poll_seconds
        return data.server, config
    if isinstance(data, FeedIn):
        config = {"match": data.match}
        if data.title:
            config["title"] = data.title
        if data.poll_seconds is not None:
            config["poll_seconds"] = data.poll_seconds
        return data.url, config
    config = {}
    if data.backfill_hours:
        if not (data.backfill_identifier and data.backfill_app_password):
            raise BadRequest("backfill needs backfill_identifier and backfill_app_password")
        config = {
            "backfill_identifier": data.backfill_identifier,
            "backfill_app_password": data.backfill_app_password,
            "backfill_hours": data.backfill_hours,
        }
    return "", config


async def create(
    session: AsyncSession, event: Event, data: BlueskyIn | MastodonIn | FeedIn
) -> Connector:
    target, config = _target_and_config(data)
    if await repo.find(session, event.id, data.kind, target) is not None:
        what = f"{data.kind} {target}".strip()
        raise Conflict(f"this event already has the connector {what}")
    now = utcnow()
    connector = Connector(
        id=new_id(),
        event_id=event.id,
        kind=data.kind,
        target=target,
        config=config,
        enabled=data.enabled,
        status=ConnectorStatus.STARTING if data.enabled else ConnectorStatus.STOPPED,
        last_error="",
        counts={},
        created_at=now,
        updated_at=now,
    )
    session.add(connector)
    await session.flush()
    return connector


def update(connector: Connector, data: ConnectorUpdate) -> Connector:
    changes = data.model_dump(exclude_unset=True)
    config = dict(connector.config)
    if "enabled" in changes and changes["enabled"] is not None:
        connector.enabled = changes.pop("enabled")
        if not connector.enabled:
            connector.status = ConnectorStatus.STOPPED
    allowed = {
        ConnectorKind.MASTODON: {"token", "poll_seconds"},
        ConnectorKind.FEED: {"poll_seconds", "match", "title"},
        ConnectorKind.BLUESKY: {"backfill_identifier", "backfill_app_password", "backfill_hours"},
    }[ConnectorKind(connector.kind)]
    for key, value in changes.items():
        if key == "enabled":
            continue
        if key not in allowed:
            raise BadRequest(f"a {connector.kind} connector has no setting '{key}'")
        if value is None or value == "":
            config.pop(key, None)
        else:
            config[key] = value
    connector.config = config
    connector.updated_at = utcnow()
    return connector


async def import_opml(
    session: AsyncSession, event: Event, feeds: Sequence[FeedEntry], *, match: str = "all"
) -> dict[str, Any]:
    """Add a feed connector for every feed of an OPML file that the event lacks."""
    added: list[Connector] = []
    skipped: list[dict[str, str]] = []
    seen: set[str] = set()
    for feed in feeds:
        try:
            url = feed_url(feed.url)
        except ValueError as exc:
            skipped.append({"url": feed.url, "reason": str(exc)})
            continue
        if url in seen or await repo.find(session, event.id, "feed", url) is not None:
            skipped.append({"url": url, "reason": "already registered"})
            continue
        seen.add(url)
        data = FeedIn(kind="feed", url=url, match=match, title=(feed.title or "")[:255])
        added.append(await create(session, event, data))
    return {"added": added, "skipped": skipped}


def _active(event: Event, now: datetime) -> bool:
    return event.ends_at is None or now < event.ends_at + AFTER_END


@dataclass
class _Fold:
    ids: list[int]
    tags: set[str]
    options: dict[str, Any]


async def desired_specs(session: AsyncSession, settings: Settings, now: datetime) -> list[Spec]:
    """The runtimes the enabled connectors of active events need, one per source:
    one Jetstream connection for every event that wants Bluesky, one runtime per
    Mastodon server, one per feed URL."""
    folds: dict[tuple[str, str], _Fold] = defaultdict(lambda: _Fold([], set(), {}))
    for connector, event, tags in await repo.enabled_with_events(session):
        if not _active(event, now):
            continue
        fold = folds[(connector.kind, connector.target)]
        fold.ids.append(connector.id)
        config = connector.config
        fold.tags.update(tags)
        if "poll_seconds" in config:
            fold.options["poll_seconds"] = min(
                config["poll_seconds"], fold.options.get("poll_seconds", config["poll_seconds"])
            )
        if connector.kind == ConnectorKind.FEED and config.get("match", "all") == "all":
            fold.options.setdefault("event_ids", []).append(event.id)
            since = (event.starts_at or connector.created_at) - FEED_LEAD
            fold.options["since"] = min(fold.options.get("since", since), since)
        if connector.kind == ConnectorKind.MASTODON and config.get("token"):
            fold.options.setdefault("token", config["token"])
        if connector.kind == ConnectorKind.BLUESKY and config.get("backfill_hours"):
            # From when the connector was added: a stable spec, so the runtime is
            # not reconfigured on every pass.
            since = connector.created_at - timedelta(hours=config["backfill_hours"])
            fold.options.setdefault("backfill", []).append(
                {
                    "connector_id": connector.id,
                    "identifier": config["backfill_identifier"],
                    "app_password": config["backfill_app_password"],
                    "since": since.isoformat(),
                    "tags": sorted(tags),
                }
            )
    specs: list[Spec] = []
    for (kind, target), fold in sorted(folds.items()):
        if "since" in fold.options:
            fold.options["since"] = fold.options["since"].isoformat()
        key = kind if kind == ConnectorKind.BLUESKY else f"{kind}:{target}"
        specs.append(
            Spec(
                key=key,
                kind=kind,
                target=target,
                connector_ids=tuple(fold.ids),
                tags=frozenset(fold.tags),
                options=fold.options,
            )
        )
    return specs
