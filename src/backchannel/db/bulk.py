"""INSERT of many rows through the driver's ``executemany``, with less work per row.

A writer group inserts a dozen rows per post (the post, its tags, its event decisions,
its stream entries). SQLAlchemy's ``executemany`` builds a parameter dictionary per row
and walks every parameter through its checks, which takes about as long as SQLite
takes to store the row. Here the statement is compiled once per dialect, table and
set of columns, each column's conversion (JSON, dates, …) is looked up once, and a row
becomes one tuple: the same SQL and the same stored values as
``connection.execute(insert(table), rows)``.

On PostgreSQL the rows go as one array per column into one
``INSERT … SELECT * FROM unnest(…)``: one execution for the whole group instead of
one per row (which is what ``executemany`` asks of the server), so the group's commit
waits less for the database.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import DeclarativeBase


@dataclass(frozen=True, slots=True)
class _Statement:
    sql: str
    #: (key in a row, the column type's bind processor) in the statement's order.
    params: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    #: One parameter per column, an array of every row's value (PostgreSQL).
    arrays: bool = False


_LENGTH = re.compile(r"\(\d+(?:,\s*\d+)?\)")
_compiled: dict[tuple[str, str, str, str, tuple[str, ...]], _Statement] = {}


def _statement(dialect: Dialect, table: Table, keys: tuple[str, ...]) -> _Statement:
    cache_key = (dialect.name, dialect.driver, dialect.paramstyle, table.name, keys)
    found = _compiled.get(cache_key)
    if found is None:
        compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
        order: Sequence[str] = compiled.positiontup or ()
        if sorted(order) != sorted(keys):
            raise ValueError(f"cannot insert {keys} into {table.name} as one row each")
        params = tuple(
            (key, table.c[key].type.dialect_impl(dialect).bind_processor(dialect)) for key in order
        )
        if dialect.name == "postgresql" and dialect.paramstyle == "numeric_dollar":
            found = _unnest(dialect, table, params)
        else:
            found = _Statement(str(compiled), params)
        _compiled[cache_key] = found
    return found


def _unnest(
    dialect: Dialect, table: Table, params: tuple[tuple[str, Callable[[Any], Any] | None], ...]
) -> _Statement:
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(table.c[key].name) for key, _ in params)
    # Without the length: a cast to VARCHAR(n) would cut a long value silently, where
    # the column itself refuses it, as it does for one row at a time.
    arrays = ", ".join(
        f"${n}::{_LENGTH.sub('', table.c[key].type.compile(dialect=dialect))}[]"
        for n, (key, _) in enumerate(params, start=1)
    )
    sql = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({names}) "
        f"SELECT * FROM unnest({arrays})"
    )
    return _Statement(sql, params, arrays=True)


def insert_many(
    connection: Connection, model: type[DeclarativeBase], rows: Sequence[dict[str, Any]]
) -> None:
    """Insert ``rows`` (dictionaries with the same keys, one per column to set; no
    column defaults are applied) into ``model``'s table with one ``executemany``."""
    if not rows:
        return
    table = model.__table__
    assert isinstance(table, Table)
    if not connection.dialect.positional:
        # Our drivers (sqlite3, asyncpg) take positional parameters; another one gets
        # SQLAlchemy's own executemany.
        connection.execute(insert(table), list(rows))
        return
    statement = _statement(connection.dialect, table, tuple(rows[0]))
    # Column by column: the values in the statement's order taken from every row at
    # C speed (itemgetter, zip), then each column's conversion, if it has one.
    keys = [key for key, _ in statement.params]
    if len(keys) == 1:  # itemgetter of one key gives the value, not a 1-tuple
        columns: list[Sequence[Any]] = [[row[keys[0]] for row in rows]]
    else:
        columns = list(zip(*map(itemgetter(*keys), rows), strict=True))
    if not statement.arrays:
        statement, columns = _without_null_columns(connection.dialect, table, keys, columns)
    for i, (_, process) in enumerate(statement.params):
        if process is not None:
            columns[i] = _converted(columns[i], process)
    if statement.arrays:
        connection.exec_driver_sql(statement.sql, tuple(list(c) for c in columns))
        return
    connection.exec_driver_sql(statement.sql, list(zip(*columns, strict=True)))


def _without_null_columns(
    dialect: Dialect, table: Table, keys: list[str], columns: list[Sequence[Any]]
) -> tuple[_Statement, list[Sequence[Any]]]:
    """The statement without the columns that are None in every row (and have no
    default, so leaving them out stores NULL as well), and the other columns.

    Python 3.11's ``sqlite3`` binds a None (as it does a bool or bytes) through its
    adaptation protocol, which looks for ``__adapt__`` on a type that has none and
    formats the AttributeError it then discards: about 3,500 instructions a value, and
    a new local post has six Nones (no title, no reply, no boost, no edit, no
    moderator's decision yet), more than binding all its other values.
    """
    null = [
        key
        for key, column in zip(keys, columns, strict=True)
        if column[0] is None  # most columns: no count
        and column.count(None) == len(column)
        and table.c[key].server_default is None
        and table.c[key].default is None
    ]
    if not null:
        return _statement(dialect, table, tuple(keys)), columns
    by_key = dict(zip(keys, columns, strict=True))
    statement = _statement(dialect, table, tuple(k for k in keys if k not in null))
    return statement, [by_key[key] for key, _ in statement.params]


def _converted(values: Sequence[Any], process: Callable[[Any], Any]) -> list[Any]:
    """``process`` of each value, converting a run of the same object once: consecutive
    rows often share it (one time for all of a group's stream entries)."""
    out: list[Any] = []
    last: Any = _NOTHING
    converted: Any = None
    for value in values:
        if value is not last:
            last, converted = value, process(value)
        out.append(converted)
    return out


_NOTHING = object()
