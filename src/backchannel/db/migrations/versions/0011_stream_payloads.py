"""stream payloads: each frame's data stored once, not once per channel

A post goes out on about nine channels with three distinct payloads; storing the data
with every entry made stream entries 96 % of the bytes each post wrote (16 KB a
post). Entries now name a payload. Existing entries keep their data: each becomes a
payload with an id of the entry's time, so pruning by age keeps working.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

import backchannel.db.base
from backchannel.kit.ids import id_floor

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")
CHUNK = 2000

entries = sa.table(
    "stream_entries",
    sa.column("channel", sa.String()),
    sa.column("seq", BIGINT),
    sa.column("data", sa.LargeBinary()),
    sa.column("payload_id", BIGINT),
    sa.column("created_at", backchannel.db.base.UTCDateTime(timezone=True)),
)
payloads = sa.table("stream_payloads", sa.column("id", BIGINT), sa.column("data", sa.LargeBinary()))


def upgrade() -> None:
    op.create_table(
        "stream_payloads",
        sa.Column("id", BIGINT, autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stream_payloads")),
    )
    with op.batch_alter_table("stream_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload_id", BIGINT, nullable=True))
    _move_data()
    with op.batch_alter_table("stream_entries", schema=None) as batch_op:
        batch_op.alter_column("payload_id", existing_type=BIGINT, nullable=False)
        batch_op.drop_column("data")


def _move_data() -> None:
    """Give every existing entry a payload of its own, in chunks (by primary key)."""
    bind = op.get_bind()
    #: Ids handed out per millisecond: a group's entries share one time.
    used: dict[int, int] = {}
    after: tuple[str, int] | None = None
    while True:
        query = sa.select(entries.c.channel, entries.c.seq, entries.c.created_at, entries.c.data)
        if after is not None:
            query = query.where(sa.tuple_(entries.c.channel, entries.c.seq) > after)
        rows = bind.execute(query.order_by(entries.c.channel, entries.c.seq).limit(CHUNK)).all()
        if not rows:
            return
        new_payloads = []
        links = []
        for channel, seq, created_at, data in rows:
            payload_id = _payload_id(created_at, used)
            new_payloads.append({"id": payload_id, "data": data})
            links.append({"c": channel, "s": seq, "p": payload_id})
        bind.execute(payloads.insert(), new_payloads)
        bind.execute(
            entries.update()
            .where(entries.c.channel == sa.bindparam("c"), entries.c.seq == sa.bindparam("s"))
            .values(payload_id=sa.bindparam("p")),
            links,
        )
        after = (rows[-1][0], rows[-1][1])


def _payload_id(created_at: datetime, used: dict[int, int]) -> int:
    floor = id_floor(created_at)
    n = used.get(floor, 0)
    used[floor] = n + 1
    return floor + n


def downgrade() -> None:
    with op.batch_alter_table("stream_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data", sa.LargeBinary(), nullable=True))
    op.execute(
        "UPDATE stream_entries SET data = "
        "(SELECT data FROM stream_payloads WHERE stream_payloads.id = stream_entries.payload_id)"
    )
    op.execute("DELETE FROM stream_entries WHERE data IS NULL")
    with op.batch_alter_table("stream_entries", schema=None) as batch_op:
        batch_op.alter_column("data", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column("payload_id")
    op.drop_table("stream_payloads")
