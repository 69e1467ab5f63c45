"""What crosses the wire for moderation: rules, decisions, audit entries."""

from __future__ import annotations

import enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Word = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Handle = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=320)
]


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: At most this many posts of one author count for the event …
    posts: int = Field(ge=1, le=10_000)
    #: … within this many seconds; more are hidden as a flood.
    seconds: int = Field(ge=1, le=86_400)


class Rules(BaseModel):
    """An event's moderation rules. Rules hide; only moderators and trust approve."""

    model_config = ConfigDict(extra="forbid")

    blocked_words: list[Word] = Field(default_factory=list, max_length=1000)
    #: Handles (``name@domain``, local ``name``) whose posts are hidden.
    blocked_authors: list[Handle] = Field(default_factory=list, max_length=10_000)
    blocked_domains: list[Handle] = Field(default_factory=list, max_length=10_000)
    #: Handles approved at once, even when the event approves first.
    trusted_authors: list[Handle] = Field(default_factory=list, max_length=10_000)
    hide_sensitive: bool = False
    hide_replies: bool = False
    hide_boosts: bool = False
    #: ISO 639-1 codes; empty means every language. Posts whose language is unknown pass.
    allowed_languages: list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]] = Field(
        default_factory=list, max_length=200
    )
    rate_limit: RateLimit | None = None

    @field_validator("blocked_authors", "trusted_authors")
    @classmethod
    def _strip_at(cls, values: list[str]) -> list[str]:
        return [v.removeprefix("@") for v in values]


class Action(enum.StrEnum):
    APPROVE = "approve"
    HIDE = "hide"
    PIN = "pin"
    UNPIN = "unpin"
    BAN = "ban"
    UNBAN = "unban"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    RULES = "rules"
