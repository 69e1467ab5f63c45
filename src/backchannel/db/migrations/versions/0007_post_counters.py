"""post counters: favourites, reblogs and replies per post; followers and following per account

A status's JSON carries these five counts. Counting them on every read cost five
correlated subqueries per status on the hottest read (the tag timeline). They are
kept by triggers instead, so every way a row comes or goes (the API, a cascade
when a post or an account is deleted, a bulk load) keeps them right.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")

# (trigger name, source table, its key column, counter table, counter column)
COUNTERS = [
    ("masto_count_favourites", "masto_favourites", "post_id", "masto_post_stats",
     "favourites_count"),
    ("masto_count_reblogs", "masto_reblogs", "post_id", "masto_post_stats", "reblogs_count"),
    ("masto_count_replies", "masto_replies", "parent_id", "masto_post_stats", "replies_count"),
    ("masto_count_followers", "masto_follows", "target_id", "masto_account_stats",
     "followers_count"),
    ("masto_count_following", "masto_follows", "follower_id", "masto_account_stats",
     "following_count"),
]  # fmt: skip

# What a new row of each counter table holds besides its key, all zero.
ZEROS = {
    "masto_post_stats": ("post_id", ["favourites_count", "reblogs_count", "replies_count"]),
    "masto_account_stats": (
        "account_id",
        ["statuses_count", "followers_count", "following_count"],
    ),
}


def _count_up(table: str, column: str, key: str) -> str:
    """An upsert adding one to ``column`` of the row ``key`` (a new row starts at zero)."""
    key_column, counters = ZEROS[table]
    values = ", ".join("1" if c == column else "0" for c in counters)
    return (
        f"INSERT INTO {table} ({key_column}, {', '.join(counters)}) VALUES ({key}, {values}) "
        f"ON CONFLICT ({key_column}) DO UPDATE SET {column} = {table}.{column} + 1"
    )


def _count_down(table: str, column: str, key: str) -> str:
    # An UPDATE, not an upsert: under a cascade the counter row may be gone already.
    key_column, _ = ZEROS[table]
    return (
        f"UPDATE {table} SET {column} = CASE WHEN {column} > 0 THEN {column} - 1 ELSE 0 END "
        f"WHERE {key_column} = {key}"
    )


def _create_triggers(dialect: str) -> None:
    for name, source, key, table, column in COUNTERS:
        up = _count_up(table, column, f"NEW.{key}")
        down = _count_down(table, column, f"OLD.{key}")
        if dialect == "postgresql":
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                f"BEGIN\n  IF TG_OP = 'INSERT' THEN\n    {up};\n  ELSE\n    {down};\n"
                "  END IF;\n  RETURN NULL;\nEND\n$$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER INSERT OR DELETE ON {source} "
                f"FOR EACH ROW EXECUTE FUNCTION {name}()"
            )
        else:
            op.execute(f"CREATE TRIGGER {name}_insert AFTER INSERT ON {source} BEGIN {up}; END")
            op.execute(f"CREATE TRIGGER {name}_delete AFTER DELETE ON {source} BEGIN {down}; END")


def _backfill() -> None:
    op.execute(
        "INSERT INTO masto_post_stats (post_id, favourites_count, reblogs_count, replies_count) "
        "SELECT p.id, "
        "(SELECT count(*) FROM masto_favourites x WHERE x.post_id = p.id), "
        "(SELECT count(*) FROM masto_reblogs x WHERE x.post_id = p.id), "
        "(SELECT count(*) FROM masto_replies x WHERE x.parent_id = p.id) "
        "FROM posts p WHERE p.id IN (SELECT post_id FROM masto_favourites "
        "UNION SELECT post_id FROM masto_reblogs UNION SELECT parent_id FROM masto_replies)"
    )
    op.execute(
        "INSERT INTO masto_account_stats (account_id, statuses_count) "
        "SELECT a.id, 0 FROM accounts a WHERE a.id NOT IN "
        "(SELECT account_id FROM masto_account_stats) AND a.id IN "
        "(SELECT follower_id FROM masto_follows UNION SELECT target_id FROM masto_follows)"
    )
    op.execute(
        "UPDATE masto_account_stats SET "
        "followers_count = (SELECT count(*) FROM masto_follows f "
        "WHERE f.target_id = masto_account_stats.account_id), "
        "following_count = (SELECT count(*) FROM masto_follows f "
        "WHERE f.follower_id = masto_account_stats.account_id)"
    )


def upgrade() -> None:
    op.create_table(
        "masto_post_stats",
        sa.Column("post_id", BIGINT, nullable=False),
        sa.Column("favourites_count", BIGINT, server_default="0", nullable=False),
        sa.Column("reblogs_count", BIGINT, server_default="0", nullable=False),
        sa.Column("replies_count", BIGINT, server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["posts.id"],
            name=op.f("fk_masto_post_stats_post_id_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("post_id", name=op.f("pk_masto_post_stats")),
    )
    with op.batch_alter_table("masto_account_stats") as batch:
        batch.add_column(sa.Column("followers_count", BIGINT, server_default="0", nullable=False))
        batch.add_column(sa.Column("following_count", BIGINT, server_default="0", nullable=False))
    _backfill()
    _create_triggers(op.get_bind().dialect.name)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, source, _, _, _ in COUNTERS:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER {name} ON {source}")
            op.execute(f"DROP FUNCTION {name}()")
        else:
            op.execute(f"DROP TRIGGER {name}_insert")
            op.execute(f"DROP TRIGGER {name}_delete")
    with op.batch_alter_table("masto_account_stats") as batch:
        batch.drop_column("following_count")
        batch.drop_column("followers_count")
    op.drop_table("masto_post_stats")
