"""Run Alembic migrations from code (the CLI, the app's tests), on SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Migrate the database at ``url``. Must not be called from a running event loop."""
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "heads") -> None:
    # env.py runs its own event loop, so do it in a thread when one is running already.
    await asyncio.to_thread(upgrade, url, revision)
