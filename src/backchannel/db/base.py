"""The declarative base every model shares, with a naming convention Alembic can diff."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, MetaData, TypeDecorator
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase

from backchannel.kit.clock import as_utc

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY, and our ids are 64-bit anyway.
BigInt = BigInteger().with_variant(sqlite.INTEGER(), "sqlite")
Json = JSON().with_variant(postgresql.JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes; gives back aware UTC datetimes on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return _sqlite_text
        return super().bind_processor(dialect)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(value)


def _sqlite_text(value: datetime | None) -> str | None:
    """The text SQLAlchemy's SQLite ``DATETIME`` stores for ``process_bind_param``'s
    naive UTC time (``2026-01-02 03:04:05.000006``), in one call instead of two
    conversions and a seven-key format: a post's rows carry several times."""
    if value is None:
        return None
    tz = value.tzinfo
    if tz is UTC:  # what ingest makes (kit.clock.utcnow): no conversion to make
        value = value.replace(tzinfo=None)
    elif tz is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def loaded_values(obj: object, names: frozenset[str]) -> Mapping[str, Any]:
    """The attributes ``names`` of a mapped object, read past the ORM's descriptors.

    Each read of a mapped attribute goes through SQLAlchemy's instrumentation (about
    0.2 µs, more in a busy server), and ingest reads about a hundred per post. Loaded
    values sit in the instance's ``__dict__``: when all of ``names`` are there, that is
    what comes back (to read, never to write). Otherwise (an attribute expired or never
    loaded) each is read the usual way, which loads it or raises as before.
    """
    values: dict[str, Any] = obj.__dict__
    if names <= values.keys():
        return values
    return {name: getattr(obj, name) for name in names}
