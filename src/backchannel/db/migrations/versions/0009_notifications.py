"""notifications and read markers of the Mastodon client API

Notifications start with this version: favourites, boosts, follows and mentions made
before it were not recorded as they happened, and are not made up afterwards.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backchannel.db.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = backchannel.db.base.UTCDateTime(timezone=True)
BIGINT = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "masto_notifications",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("account_id", BIGINT, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("from_account_id", BIGINT, nullable=False),
        sa.Column("status_id", BIGINT, nullable=True),
        sa.Column("reblog_id", BIGINT, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_masto_notifications_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["from_account_id"],
            ["accounts.id"],
            name=op.f("fk_masto_notifications_from_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["status_id"],
            ["posts.id"],
            name=op.f("fk_masto_notifications_status_id_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_masto_notifications")),
    )
    with op.batch_alter_table("masto_notifications") as batch:
        batch.create_index("ix_masto_notifications_account_id_id", ["account_id", "id"])
        batch.create_index(batch.f("ix_masto_notifications_from_account_id"), ["from_account_id"])
        batch.create_index(batch.f("ix_masto_notifications_status_id"), ["status_id"])

    op.create_table(
        "masto_markers",
        sa.Column("account_id", BIGINT, nullable=False),
        sa.Column("timeline", sa.String(length=16), nullable=False),
        sa.Column("last_read_id", BIGINT, nullable=False),
        sa.Column("version", BIGINT, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_masto_markers_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "timeline", name=op.f("pk_masto_markers")),
    )


def downgrade() -> None:
    op.drop_table("masto_markers")
    with op.batch_alter_table("masto_notifications") as batch:
        batch.drop_index(batch.f("ix_masto_notifications_status_id"))
        batch.drop_index(batch.f("ix_masto_notifications_from_account_id"))
        batch.drop_index("ix_masto_notifications_account_id_id")
    op.drop_table("masto_notifications")
