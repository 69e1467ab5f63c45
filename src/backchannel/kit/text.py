"""Text from outside, made storable."""

from __future__ import annotations

from typing import Any


def without_nul(value: Any) -> Any:
    """``value`` with NUL characters removed from every string in it.

    PostgreSQL cannot store NUL in text. A source (a connector, the inbox) that hands
    one in should lose the character, not the post; HTTP requests with NUL are refused
    at the door instead (``kit.body_limit``).
    """
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {k: without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value
