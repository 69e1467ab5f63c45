"""media uploads: images posted through the Mastodon API, kept in the database

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backchannel.db.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = backchannel.db.base.UTCDateTime(timezone=True)
BIGINT = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "masto_media",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("account_id", BIGINT, nullable=False),
        sa.Column("post_id", BIGINT, nullable=True),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("focus_x", sa.Float(), nullable=True),
        sa.Column("focus_y", sa.Float(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_masto_media_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["posts.id"],
            name=op.f("fk_masto_media_post_id_posts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_masto_media")),
    )
    with op.batch_alter_table("masto_media") as batch:
        batch.create_index(batch.f("ix_masto_media_account_id"), ["account_id"], unique=False)
        batch.create_index(batch.f("ix_masto_media_post_id"), ["post_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("masto_media") as batch:
        batch.drop_index(batch.f("ix_masto_media_post_id"))
        batch.drop_index(batch.f("ix_masto_media_account_id"))
    op.drop_table("masto_media")
