"""``/api/v1/markers``: where a person stopped reading home and notifications.

Apps save it so that another app (or the same one after a restart) opens there, and
``/api/v1/notifications/unread_count`` counts from the notifications marker.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request

from backchannel.db.writer import UnitOfWork
from backchannel.deps import ServicesDep, SessionDep
from backchannel.kit.clock import isoformat, utcnow
from backchannel.mastodon_api import compat_queries as queries
from backchannel.mastodon_api import params
from backchannel.mastodon_api.auth import UserReadStatuses, UserWriteStatuses, account_of
from backchannel.mastodon_api.http import JSON
from backchannel.mastodon_api.notification_models import Marker, MarkerTimeline

router = APIRouter(tags=["mastodon"])


def _timelines(names: list[str]) -> list[MarkerTimeline]:
    """The known ones among ``names``; Mastodon ignores the others."""
    known = {t.value: t for t in MarkerTimeline}
    return [known[n] for n in dict.fromkeys(names) if n in known]


def _json(found: list[Marker]) -> dict[str, Any]:
    return {
        m.timeline: {
            "last_read_id": str(m.last_read_id),
            "version": m.version,
            "updated_at": isoformat(m.updated_at),
        }
        for m in found
    }


@router.get("/api/v1/markers")
async def get_markers(request: Request, caller: UserReadStatuses, session: SessionDep) -> JSON:
    """The markers of the ``timeline[]`` asked for (none asked: an empty object)."""
    me = account_of(caller)
    wanted = _timelines(params.query(request).strings("timeline", max_items=10))
    return JSON(_json(await queries.markers(session, me.id, wanted)))


async def _last_read_ids(request: Request) -> dict[MarkerTimeline, int]:
    """``home[last_read_id]=…`` from a form, or ``{"home": {"last_read_id": …}}`` in JSON."""
    p = await params.body(request)
    nested: dict[str, Any] = {}
    if request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json":
        # ``params.body`` has checked that the body is a JSON object.
        raw = await request.body()
        nested = orjson.loads(raw) if raw.strip() else {}
    found: dict[MarkerTimeline, int] = {}
    for timeline in MarkerTimeline:
        name = f"{timeline.value}[last_read_id]"
        value = p.text(name, max_length=40)
        inner = nested.get(timeline.value)
        if isinstance(inner, dict) and inner.get("last_read_id") is not None:
            value = str(inner["last_read_id"])
        if value is not None:
            found[timeline] = params.parse_id(value, name)
    return found


@router.post("/api/v1/markers")
async def save_markers(request: Request, caller: UserWriteStatuses, services: ServicesDep) -> JSON:
    me = account_of(caller)
    wanted = await _last_read_ids(request)

    async def write(uow: UnitOfWork) -> dict[str, Any]:
        now = utcnow()
        saved = [
            await queries.set_marker(uow.session, me.id, timeline, last_read_id, now)
            for timeline, last_read_id in wanted.items()
        ]
        return _json(saved)

    return JSON(await services.writer.submit(write))
