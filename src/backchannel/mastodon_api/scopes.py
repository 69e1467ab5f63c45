"""OAuth scopes as Mastodon defines them: the top-level ones cover their granular ones."""

from __future__ import annotations

from collections.abc import Iterable

_GRANULAR = (
    "accounts",
    "blocks",
    "bookmarks",
    "conversations",
    "favourites",
    "filters",
    "follows",
    "lists",
    "media",
    "mutes",
    "notifications",
    "reports",
    "search",
    "statuses",
)
KNOWN: frozenset[str] = frozenset(
    {"read", "write", "follow", "push", "profile", "admin:read", "admin:write"}
    | {f"read:{g}" for g in _GRANULAR}
    | {f"write:{g}" for g in _GRANULAR}
)
#: The legacy ``follow`` scope: what it grants since Mastodon 3.5.
_FOLLOW = frozenset(
    {"read:follows", "write:follows", "read:blocks", "write:blocks", "read:mutes", "write:mutes"}
)
SUPPORTED = sorted(KNOWN)


def parse(value: str | None, default: str = "read") -> list[str]:
    """Scopes from a space- (or ``+``-) separated string, in order, without repeats."""
    raw = (value or default).replace("+", " ").split()
    seen: list[str] = []
    for scope in raw:
        if scope not in seen:
            seen.append(scope)
    return seen


def unknown(scopes: Iterable[str]) -> list[str]:
    return [s for s in scopes if s not in KNOWN]


def covers(granted: Iterable[str], needed: str) -> bool:
    """Whether ``granted`` allows ``needed`` (``read`` allows ``read:statuses`` …)."""
    have = set(granted)
    if needed in have:
        return True
    top, _, _ = needed.partition(":")
    if top in ("read", "write") and top in have:
        return True
    if needed in _FOLLOW and "follow" in have:
        return True
    # ``profile`` (verify_credentials only) is part of reading accounts.
    return needed == "profile" and bool({"read", "read:accounts"} & have)


def subset(wanted: Iterable[str], allowed: Iterable[str]) -> bool:
    allowed = list(allowed)
    return all(covers(allowed, scope) for scope in wanted)
