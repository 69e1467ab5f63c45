"""The media tests' live app may fetch from 127.0.0.1, where their image server runs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from conftest import redis_url_or_unavailable
from support import LiveServer
from support_media import ImageServer, image_server, private_fetching_live


@pytest.fixture(scope="module")
async def live(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    """As the root ``live`` (SQLite + memory broker, PostgreSQL + Redis), but with
    ``http_allow_private`` on and a small ``media_max_bytes``."""
    redis_url = ""
    if database_url.startswith("postgresql"):
        redis_url = await redis_url_or_unavailable()
    async with private_fetching_live(
        database_url, redis_url, tmp_path_factory.mktemp("live")
    ) as server:
        yield server


@pytest.fixture(scope="module")
async def image_host() -> AsyncIterator[ImageServer]:
    async with image_server() as server:
        yield server


@pytest.fixture
def images(image_host: ImageServer) -> ImageServer:
    """The remote image server, with URLs and counts of this test's own."""
    image_host.reset()
    return image_host
