"""connectors: per-event sources (Bluesky, Mastodon servers, feeds), cursors, a lease

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import backchannel.db.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = backchannel.db.base.UTCDateTime(timezone=True)
BIGINT = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "connectors",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("event_id", BIGINT, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=2048), nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("last_error_at", UTC, nullable=True),
        sa.Column("last_event_at", UTC, nullable=True),
        sa.Column("last_post_at", UTC, nullable=True),
        sa.Column("lag_seconds", sa.Double(), nullable=True),
        sa.Column("counts", JSON, nullable=False),
        sa.Column("health_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_connectors_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connectors")),
        sa.UniqueConstraint("event_id", "kind", "target", name=op.f("uq_connectors_event_id")),
    )
    op.create_table(
        "connector_cursors",
        sa.Column("key", sa.String(length=2100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_connector_cursors")),
    )
    op.create_table(
        "connector_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_connector_leases")),
    )


def downgrade() -> None:
    op.drop_table("connector_leases")
    op.drop_table("connector_cursors")
    op.drop_table("connectors")
