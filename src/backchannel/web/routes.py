"""Every page of the web package (and the JSON it adds), as one router for ``create_app``."""

from __future__ import annotations

from fastapi import APIRouter

from backchannel.web import (
    api,
    assets,
    columns_pages,
    console_pages,
    event_pages,
    login_pages,
    organise_pages,
    sources_pages,
    wall_pages,
)

router = APIRouter()
for _module in (
    assets,
    api,
    event_pages,
    wall_pages,
    console_pages,
    columns_pages,
    login_pages,
    organise_pages,
    sources_pages,
):
    router.include_router(_module.router)
