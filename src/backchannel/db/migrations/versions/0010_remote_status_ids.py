"""remote status ids: a Mastodon server's own id of each status a connector stored

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "connector_status_ids",
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("status_id", sa.String(length=64), nullable=False),
        sa.Column("post_id", BIGINT, nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["posts.id"],
            name=op.f("fk_connector_status_ids_post_id_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("server", "status_id", name=op.f("pk_connector_status_ids")),
    )
    op.create_index(
        op.f("ix_connector_status_ids_post_id"), "connector_status_ids", ["post_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_connector_status_ids_post_id"), table_name="connector_status_ids")
    op.drop_table("connector_status_ids")
