"""walls: one screen's view of an event, with its filter, layout and theme

Revision ID: 0002_web
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import backchannel.db.base

revision: str = "0002_web"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "walls",
        sa.Column("id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("layout", sa.String(length=16), nullable=False),
        sa.Column("theme", sa.String(length=16), nullable=False),
        sa.Column("accent", sa.String(length=7), nullable=True),
        sa.Column("background", sa.String(length=7), nullable=True),
        sa.Column("logo_url", sa.String(length=2048), nullable=True),
        sa.Column("created_at", backchannel.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", backchannel.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_walls_event_id_events"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_walls")),
    )
    with op.batch_alter_table("walls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_walls_event_id"), ["event_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("walls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_walls_event_id"))
    op.drop_table("walls")
