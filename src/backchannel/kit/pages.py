"""Cursor paging over sortable ids, as Mastodon does it (max_id, since_id, min_id, limit)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Page:
    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None
    limit: int = 20


def apply_page(stmt: Any, column: Any, page: Page) -> tuple[Any, bool]:
    """Bound and order ``stmt`` by ``column``. Returns whether rows come oldest first
    (``min_id``: the page right after min_id), which the caller reverses."""
    if page.max_id is not None:
        stmt = stmt.where(column < page.max_id)
    if page.since_id is not None:
        stmt = stmt.where(column > page.since_id)
    if page.min_id is not None:
        stmt = stmt.where(column > page.min_id)
        return stmt.order_by(column.asc()).limit(page.limit), True
    return stmt.order_by(column.desc()).limit(page.limit), False
