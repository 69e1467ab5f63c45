"""Statuses as flat rows: one statement gives a page of posts with all their JSON needs.

A ``StatusRow`` is a post with its author, the author's counters, its reply parent's
ids and its favourite, boost and reply counts (and, for a signed-in viewer, whether
they favourited or boosted it). The timelines read them in one statement
(``with_everything`` around the page's ids); single statuses and streams build the
same rows from ORM objects (``status_row``), so one function writes every Status.

The timeline statements are the API's hottest reads (walls poll them), so they skip
SQLAlchemy's per-execution work: each ``Statement`` is built once per shape, compiled
once per dialect, and run through the DBAPI cursor of a pooled connection. The rows
come back as the driver gives them (SQLite: times as text, booleans as 0/1;
asyncpg: datetimes and booleans) and ``_status_row`` gives them one form.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

import orjson
from sqlalchemy import String, Text, bindparam, cast, exists, func, select
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import aliased
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import Select
from sqlalchemy.util import greenlet_spawn

from backchannel.db.base import BigInt, loaded_values
from backchannel.kit.clock import isoformat
from backchannel.mastodon_api.models import AccountStats, Favourite, PostStats, Reblog
from backchannel.people.models import Account
from backchannel.posts.models import Post

JSONList = list[Any]


class StatusRow(NamedTuple):
    """A post with everything its Status JSON needs, in one flat row.

    The post's times are ISO 8601 in UTC with a ``Z``, as the JSON shows them."""

    id: int
    source: str
    source_uri: str
    url: str | None
    content_html: str
    language: str | None
    visibility: str
    sensitive: bool
    spoiler_text: str
    in_reply_to_uri: str | None
    reblog_of_uri: str | None
    media: JSONList
    mentions: JSONList
    tags: Sequence[str]
    created_at: str
    edited_at: str | None
    #: The reply parent, when it is stored here.
    parent_id: int | None
    parent_author_id: int | None
    favourites_count: int
    reblogs_count: int
    replies_count: int
    author_id: int
    author_acct: str
    author_username: str
    author_domain: str
    author_display_name: str
    author_note: str
    author_avatar_url: str | None
    author_profile_url: str | None
    author_actor_uri: str | None
    #: The author's part as stored (SQLite: 0/1, text times; ``entities`` shows them):
    #: it is read for every row, but turned into JSON only when it changes.
    author_bot: bool | int
    author_opted_out: bool | int
    author_created_at: datetime | str
    author_statuses_count: int | None
    author_last_status_at: datetime | str | None
    author_followers_count: int
    author_following_count: int
    #: The viewer's marks; None when nobody is signed in.
    favourited: bool | None
    reblogged: bool | None


class MentionedAccount(NamedTuple):
    id: int
    username: str
    acct: str
    profile_url: str | None


# --- statements compiled once, run through the driver -----------------------------------


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    #: Parameter names in the order the SQL takes them (None: the driver takes a dict).
    order: tuple[str, ...] | None
    #: Values compiled into the statement (constants such as 'public', OFFSET 0).
    defaults: dict[str, Any]
    processors: dict[str, Callable[[Any], Any]]

    def parameters(self, values: dict[str, Any]) -> Sequence[Any] | dict[str, Any]:
        merged = {**self.defaults, **values}
        for name, process in self.processors.items():
            merged[name] = process(merged[name])
        if self.order is None:
            return merged
        return tuple(merged[name] for name in self.order)


class Statement:
    """A statement built once per shape, compiled once per dialect. ``oldest_first``:
    its rows come in ascending ids (a ``min_id`` page), to be given newest first."""

    __slots__ = ("select", "oldest_first", "_compiled")

    def __init__(self, select: Select[*tuple[Any, ...]], *, oldest_first: bool = False) -> None:
        self.select = select
        self.oldest_first = oldest_first
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.select.compile(dialect=dialect)
            processors: dict[str, Callable[[Any], Any]] = {}
            for name, bind in compiled.binds.items():
                process = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if process is not None:
                    processors[name] = process
            order = tuple(compiled.positiontup) if compiled.positiontup is not None else None
            found = _Compiled(str(compiled), order, dict(compiled.params), processors)
            self._compiled[dialect.name] = found
        return found


class Query(NamedTuple):
    """A cached statement and this request's values for its parameters."""

    statement: Statement
    params: dict[str, Any]


def _run(dbapi: PoolProxiedConnection, dialect: Dialect, query: Query) -> list[Any]:
    compiled = query.statement.compiled(dialect)
    cursor = dbapi.cursor()
    try:
        cursor.execute(compiled.sql, compiled.parameters(query.params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


# --- the statement: a page's ids joined to everything -----------------------------------


def _status_columns(viewer: bool) -> list[Any]:
    parent = _PARENT
    columns: list[Any] = [
        Post.id,
        Post.source,
        Post.source_uri,
        Post.url,
        Post.content_html,
        Post.language,
        Post.visibility,
        Post.sensitive,
        Post.spoiler_text,
        Post.in_reply_to_uri,
        Post.reblog_of_uri,
        cast(Post.media, Text).label("media"),
        cast(Post.mentions, Text).label("mentions"),
        cast(Post.tags, Text).label("tags"),
        Post.created_at,
        Post.edited_at,
        parent.id.label("parent_id"),
        parent.author_id.label("parent_author_id"),
        func.coalesce(PostStats.favourites_count, 0),
        func.coalesce(PostStats.reblogs_count, 0),
        func.coalesce(PostStats.replies_count, 0),
        Account.id.label("author_id"),
        Account.acct,
        Account.username,
        Account.domain,
        Account.display_name,
        Account.note,
        Account.avatar_url,
        Account.profile_url,
        Account.actor_uri,
        Account.bot,
        Account.opted_out,
        Account.created_at.label("author_created_at"),
        AccountStats.statuses_count,
        AccountStats.last_status_at,
        func.coalesce(AccountStats.followers_count, 0),
        func.coalesce(AccountStats.following_count, 0),
    ]
    if viewer:
        who = bindparam("viewer", type_=BigInt)
        columns.append(exists().where(Favourite.account_id == who, Favourite.post_id == Post.id))
        columns.append(exists().where(Reblog.account_id == who, Reblog.post_id == Post.id))
    return columns


_PARENT = aliased(Post, name="parent")
# The statement's columns are the row's fields, in order (the marks only for a viewer).
assert len(_status_columns(True)) == len(StatusRow._fields)


def _joined(stmt: Select[Any]) -> Select[Any]:
    """The joins of a StatusRow onto a statement whose FROM has the posts."""
    return (
        stmt.join(Account, Account.id == Post.author_id)
        .outerjoin(AccountStats, AccountStats.account_id == Account.id)
        .outerjoin(PostStats, PostStats.post_id == Post.id)
        .outerjoin(_PARENT, _PARENT.source_uri == Post.in_reply_to_uri)
    )


def with_everything(ids: Select[Any], *, viewer: bool) -> Statement:
    """``ids`` (one ``id`` column: the page) joined to all a StatusRow holds, newest first.

    The page is a subquery, so the joins (and the viewer's marks, correlated
    subqueries) are made for its rows only, whatever plan finds them (SQLite would
    make them for every row it sorts). JSON columns come as text on every backend;
    ``viewer`` adds the marks of the ``viewer`` parameter.
    """
    page = ids.subquery("page")
    stmt = select(*_status_columns(viewer)).select_from(page).join(Post, Post.id == page.c.id)
    return Statement(_joined(stmt).order_by(Post.id.desc()))


def flat_everything(page: Select[Any], *, viewer: bool, oldest_first: bool) -> Statement:
    """The same rows in one flat statement, for a page an index gives in order.

    ``page`` is the page itself (posts joined, filtered, ordered, limited); its
    columns are replaced by a StatusRow's. Ordered by an index, SQLite computes the
    counts only for the rows it returns; a page that needs a sort must use
    ``with_everything``, or they would be computed for every candidate row.
    """
    columns = _status_columns(viewer)
    stmt = _joined(page.with_only_columns(*columns, maintain_column_froms=True))
    return Statement(stmt, oldest_first=oldest_first)


# --- rows in one form ---------------------------------------------------------------------


def _json_list(value: Any) -> JSONList:
    # Most posts have no media and no mentions: skip the parser for "[]".
    if not value or value == "[]":
        return []
    parsed = orjson.loads(value)
    return parsed if isinstance(parsed, list) else []


@lru_cache(maxsize=4096)
def _tag_names(value: str | None) -> tuple[str, ...]:
    # Pages repeat the same few tag lists: parsed once, and the names (the same
    # objects every time) hash once for the tag JSON they key (entities._shared_tags).
    return tuple(_json_list(value))


def utc_iso(value: datetime | str | None) -> str | None:
    """A stored time as the JSON shows it (``2026-01-02T03:04:05.678901Z``), from a
    datetime or from SQLite's text as SQLAlchemy writes it (``2026-01-02 03:04:05.678901``,
    UTC); the fraction is left out when it is zero, as ``datetime.isoformat`` does."""
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " " and value[19] == ".":
            head = value[:10] + "T" + value[11:19]
            return (head if value.endswith(".000000") else head + value[19:]) + "Z"
        value = datetime.fromisoformat(value)
    return isoformat(value)


_FIELD = {name: i for i, name in enumerate(StatusRow._fields)}
_SENSITIVE = _FIELD["sensitive"]
_MEDIA = _FIELD["media"]
_MENTIONS = _FIELD["mentions"]
_TAGS = _FIELD["tags"]
_CREATED = _FIELD["created_at"]
_EDITED = _FIELD["edited_at"]
_FAVOURITED = _FIELD["favourited"]
_REBLOGGED = _FIELD["reblogged"]
_AUTHOR = slice(_FIELD["author_id"], _FIELD["author_following_count"] + 1)


def author_values(row: StatusRow) -> tuple[Any, ...]:
    """The author's part of a row, ``author_id`` to ``author_following_count``."""
    values: tuple[Any, ...] = tuple(row)[_AUTHOR]
    return values


def _status_row(row: Sequence[Any], viewer: bool) -> StatusRow:
    """A row as the driver gives it, in one form (the columns of ``_status_columns``).

    Straight-line on purpose: it runs for every row of every page."""
    r = list(row)
    r[_SENSITIVE] = bool(r[_SENSITIVE])
    r[_MEDIA] = _json_list(r[_MEDIA])
    r[_MENTIONS] = _json_list(r[_MENTIONS])
    r[_TAGS] = _tag_names(r[_TAGS])
    r[_CREATED] = utc_iso(r[_CREATED])
    if r[_EDITED] is not None:
        r[_EDITED] = utc_iso(r[_EDITED])
    if viewer:
        r[_FAVOURITED] = bool(r[_FAVOURITED])
        r[_REBLOGGED] = bool(r[_REBLOGGED])
    else:
        r += (None, None)
    return StatusRow._make(r)


def with_viewer(params: dict[str, Any], viewer_id: int | None) -> dict[str, Any]:
    if viewer_id is not None:
        params["viewer"] = viewer_id
    return params


def numbered(prefix: str, count: int) -> list[Any]:
    """``prefix_0`` … bound parameters: one statement per count, not an expanding IN."""
    return [bindparam(f"{prefix}_{i}", type_=String) for i in range(count)]


def numbered_values(prefix: str, values: Collection[str]) -> dict[str, str]:
    return {f"{prefix}_{i}": v for i, v in enumerate(values)}


# --- what a page's statuses point at ------------------------------------------------------


@lru_cache(maxsize=128)
def _by_uris_statement(count: int, viewer: bool) -> Statement:
    ids = select(Post.id).where(Post.source_uri.in_(numbered("uri", count)))
    return with_everything(ids, viewer=viewer)


@lru_cache(maxsize=128)
def _mentioned_statement(count: int) -> Statement:
    return Statement(
        select(Account.id, Account.username, Account.acct, Account.profile_url).where(
            Account.acct.in_(numbered("acct", count))
        )
    )


class PageRows(NamedTuple):
    """A page's rows and what they point at: boosted originals (by URI; stored ones
    only, whatever their visibility) and mentioned accounts (by acct, known ones only)."""

    rows: list[StatusRow]
    originals: dict[str, StatusRow]
    mentioned: dict[str, MentionedAccount]


def _read(dbapi: PoolProxiedConnection, dialect: Dialect, query: Query) -> PageRows:
    """The page, then — only when it has any — its boosted originals and its mentioned
    accounts: one statement for most pages, three at most."""
    viewer_id = query.params.get("viewer")
    viewer = viewer_id is not None
    rows = [_status_row(r, viewer) for r in _run(dbapi, dialect, query)]
    if query.statement.oldest_first:
        rows.reverse()
    originals: dict[str, StatusRow] = {}
    boosted = list({r.reblog_of_uri for r in rows if r.reblog_of_uri})
    if boosted:
        found = Query(
            _by_uris_statement(len(boosted), viewer),
            with_viewer(numbered_values("uri", boosted), viewer_id),
        )
        originals = {
            r.source_uri: r for r in (_status_row(x, viewer) for x in _run(dbapi, dialect, found))
        }
    accts = list(
        {
            str(m.get("acct"))
            for some in (rows, originals.values())
            for r in some
            for m in r.mentions
            if m.get("acct")
        }
    )
    mentioned: dict[str, MentionedAccount] = {}
    if accts:
        named = Query(_mentioned_statement(len(accts)), numbered_values("acct", accts))
        mentioned = {r[2]: MentionedAccount(*r) for r in _run(dbapi, dialect, named)}
    return PageRows(rows, originals, mentioned)


def _read_pooled(engine: Engine, query: Query) -> PageRows:
    # No transaction is begun for these reads: SQLite reads one snapshot per statement;
    # the asyncpg adapter opens its own, rolled back as the connection goes back.
    dbapi = engine.raw_connection()
    try:
        return _read(dbapi, engine.dialect, query)
    finally:
        dbapi.close()


async def read_page(engine: AsyncEngine, query: Query) -> PageRows:
    """A page on a pooled connection of its own: SQLAlchemy's greenlet once, the
    DBAPI cursor directly (no Connection, execution context or result objects)."""
    return await greenlet_spawn(_read_pooled, engine.sync_engine, query)


async def read_page_on(conn: AsyncConnection, query: Query) -> PageRows:
    """The same on a connection already in use (a request's session)."""

    def read(sync: Connection) -> PageRows:
        return _read(sync.connection, sync.dialect, query)

    return await conn.run_sync(read)


# --- the same rows from ORM objects --------------------------------------------------------


_POST_FIELDS = frozenset(
    "id source source_uri url content_html language visibility sensitive spoiler_text "
    "in_reply_to_uri reblog_of_uri media mentions tags created_at edited_at author".split()
)
_AUTHOR_FIELDS = frozenset(
    "id acct username domain display_name note avatar_url profile_url actor_uri bot "
    "opted_out created_at".split()
)


def status_row(
    post: Post,
    *,
    parent: Post | None,
    counts: tuple[int, int, int],
    stats: tuple[int, datetime | None],
    follows: tuple[int, int],
    marks: tuple[bool, bool] | None,
) -> StatusRow:
    """The row of an ORM ``Post`` (single statuses, streams): one writer for both."""
    p = loaded_values(post, _POST_FIELDS)
    a = loaded_values(p["author"], _AUTHOR_FIELDS)
    return StatusRow(
        p["id"],
        p["source"],
        p["source_uri"],
        p["url"],
        p["content_html"],
        p["language"],
        p["visibility"],
        p["sensitive"],
        p["spoiler_text"],
        p["in_reply_to_uri"],
        p["reblog_of_uri"],
        p["media"],
        p["mentions"],
        p["tags"],
        isoformat(p["created_at"]) or "",
        isoformat(p["edited_at"]),
        parent.id if parent is not None else None,
        parent.author_id if parent is not None else None,
        *counts,
        a["id"],
        a["acct"],
        a["username"],
        a["domain"],
        a["display_name"],
        a["note"],
        a["avatar_url"],
        a["profile_url"],
        a["actor_uri"],
        a["bot"],
        a["opted_out"],
        a["created_at"],
        stats[0],
        stats[1],
        *follows,
        *(marks if marks is not None else (None, None)),
    )


def mention_of(account: Account) -> MentionedAccount:
    return MentionedAccount(account.id, account.username, account.acct, account.profile_url)
