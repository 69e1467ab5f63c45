"""one history again: web and mastodon api

Revision ID: 0004
Revises: 0002_web, 0003_mastodon
Create Date: 2026-11-23 21:39:36.912754
"""

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | tuple[str, ...] | None = ("0002_web", "0003_mastodon")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
