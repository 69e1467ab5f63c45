"""The Mastodon client API, one router per resource, gathered here for ``create_app``."""

from __future__ import annotations

from fastapi import APIRouter

from backchannel.mastodon_api import (
    accounts,
    apps,
    instance,
    oauth,
    statuses,
    streaming,
    tags,
    timelines,
)

router = APIRouter()
for module in (apps, oauth, accounts, statuses, timelines, tags, instance, streaming):
    router.include_router(module.router)
