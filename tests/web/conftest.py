"""Fixtures for the page tests: an event site on the live server, and a real Chromium
driven by Playwright (skipped with the reason when Chromium or Playwright is missing;
under CI=true that is a failure)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from conftest import unavailable
from support import LiveServer
from support_web import CHROMIUM, CHROMIUM_ARGS, Site


@pytest.fixture
async def site(server: LiveServer, http: Any) -> Site:
    return Site(server, http)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    """One headless Chromium per module (Debian's, never a downloaded one)."""
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        unavailable("Playwright", f"{exc} (pip install playwright)")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        unavailable("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def context(browser: Any, server: LiveServer) -> AsyncIterator[Any]:
    """A fresh browser profile per test, failing on any uncaught page error."""
    ctx = await browser.new_context(
        base_url=server.base_url, viewport={"width": 1400, "height": 900}
    )
    errors: list[str] = []
    ctx.on("page", lambda page: page.on("pageerror", lambda exc: errors.append(str(exc))))
    try:
        yield ctx
    finally:
        await ctx.close()
    assert not errors, f"uncaught errors in the page: {errors}"
