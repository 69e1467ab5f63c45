"""The Mastodon client API, one router per resource, gathered here for ``create_app``."""

from __future__ import annotations

from fastapi import APIRouter

from backchannel.mastodon_api import (
    accounts,
    apps,
    compat,
    instance,
    markers,
    media,
    notifications,
    oauth,
    statuses,
    streaming,
    tags,
    timelines,
)

router = APIRouter()
for module in (
    apps,
    oauth,
    accounts,
    statuses,
    media,
    timelines,
    tags,
    instance,
    streaming,
    notifications,
    markers,
    compat,
):
    router.include_router(module.router)
