"""Channel names, in one place: what a stream carries and who may read it."""

from __future__ import annotations


def event_wall(event_id: int) -> str:
    """Approved posts, removals, pins and freezes of an event's wall."""
    return f"event:{event_id}:wall"


def event_queue(event_id: int) -> str:
    """Everything moderators see: new posts with their state, and every decision."""
    return f"event:{event_id}:queue"


def tag(name: str) -> str:
    """Every public post under a hashtag, whatever event it counts for."""
    return f"tag:{name}"


def account(account_id: int) -> str:
    """A person's public posts."""
    return f"account:{account_id}"
