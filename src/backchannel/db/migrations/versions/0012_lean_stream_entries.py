"""lean stream entries: no time column and its index; on SQLite, no rowid

A post writes about nine stream entries. Each one was three B-tree inserts on SQLite
(the rowid table, its primary key, the ``created_at`` index) and a heap row plus two
index entries on PostgreSQL. Entries are now pruned by their payload's id, which
carries the time (``kit.ids``), channel by channel along the primary key, so the time
column and its index go. On SQLite the table is ``WITHOUT ROWID``: the primary key is
the table, and an entry is one B-tree insert.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backchannel.db.base

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")
TIME = backchannel.db.base.UTCDateTime(timezone=True)
COPY = "channel, seq, event, payload_id"


def _create_entries(name: str, *time: sa.Column[object], rowid: bool) -> None:
    op.create_table(
        name,
        sa.Column("channel", sa.String(length=320), nullable=False),
        sa.Column("seq", BIGINT, nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        *time,
        sa.Column("payload_id", BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("channel", "seq", name="pk_stream_entries"),
        sqlite_with_rowid=rowid,
    )


def upgrade() -> None:
    op.drop_index("ix_stream_entries_created_at", table_name="stream_entries")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_column("stream_entries", "created_at")
        return
    # SQLite cannot change a table's rowid: a new table, the rows copied over.
    _create_entries("stream_entries_lean", rowid=False)
    op.execute(f"INSERT INTO stream_entries_lean ({COPY}) SELECT {COPY} FROM stream_entries")
    op.drop_table("stream_entries")
    op.rename_table("stream_entries_lean", "stream_entries")


def downgrade() -> None:
    # The entries' times are not kept: they get the time of the downgrade, so they are
    # pruned a retention period from now.
    if op.get_bind().dialect.name != "sqlite":
        op.add_column(
            "stream_entries",
            sa.Column("created_at", TIME, nullable=False, server_default=sa.func.now()),
        )
        op.alter_column("stream_entries", "created_at", server_default=None)
    else:
        _create_entries(
            "stream_entries_rowid", sa.Column("created_at", TIME, nullable=False), rowid=True
        )
        op.execute(
            f"INSERT INTO stream_entries_rowid ({COPY}, created_at) "
            f"SELECT {COPY}, strftime('%Y-%m-%d %H:%M:%S.000000', 'now') FROM stream_entries"
        )
        op.drop_table("stream_entries")
        op.rename_table("stream_entries_rowid", "stream_entries")
    op.create_index("ix_stream_entries_created_at", "stream_entries", ["created_at"], unique=False)
