"""stream envelopes: a frame that wraps a shared payload stores only its envelope

A post's frame on its event's moderation queue is the post's JSON inside
``{"post": …, "moderation": {…}}``. It was stored as a payload of its own, a second
copy of the post (about 1 KB) next to the one its other channels share. An entry may
now carry an envelope (the bytes before and after the payload, split by a NUL, which
JSON never holds) and point at the shared payload.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column: an ALTER on both databases, no copy of the table.
    op.add_column("stream_entries", sa.Column("envelope", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    # Entries with an envelope would replay as the bare post: they go (their channels
    # are moderation queues, whose clients read the queue afresh on a gap).
    op.execute("DELETE FROM stream_entries WHERE envelope IS NOT NULL")
    with op.batch_alter_table("stream_entries") as batch:
        batch.drop_column("envelope")
