"""Where a new post lands for an event: the mode and the rules, evaluated in order.

Rules only ever hide; trust approves at once; the mode decides the rest. A rule's
reason is kept with the post so a moderator sees why it was hidden.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from backchannel.events.models import ModerationMode
from backchannel.moderation.models import PostState
from backchannel.moderation.schemas import Rules

#: The reason a post of an author who opted out is hidden with.
OPTED_OUT = "the author opted out of being shown"


@dataclass(frozen=True, slots=True)
class PostFacts:
    author_acct: str
    author_domain: str
    text: str
    sensitive: bool
    has_content_warning: bool
    is_reply: bool
    is_boost: bool
    language: str | None
    author_opted_out: bool


@dataclass(frozen=True, slots=True)
class Verdict:
    state: PostState
    needs_review: bool
    reason: str


@lru_cache(maxsize=512)
def _word_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    # Whole words (or phrases), case-insensitive; "ass" does not hide "class".
    alternatives = "|".join(re.escape(w.casefold()) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


def blocked_word(rules: Rules, text: str) -> str | None:
    pattern = _word_pattern(tuple(rules.blocked_words))
    if pattern is None:
        return None
    match = pattern.search(text.casefold())
    return match.group(0) if match else None


def evaluate(mode: ModerationMode, rules: Rules, facts: PostFacts, *, over_rate: bool) -> Verdict:
    acct = facts.author_acct.lower()
    domain = facts.author_domain.lower()

    def hide(reason: str) -> Verdict:
        return Verdict(PostState.HIDDEN, False, reason)

    if facts.author_opted_out:
        return hide(OPTED_OUT)
    if acct in rules.blocked_authors:
        return hide("blocked author")
    if domain and any(domain == d or domain.endswith("." + d) for d in rules.blocked_domains):
        return hide(f"blocked domain {domain}")
    if acct in rules.trusted_authors:
        return Verdict(PostState.APPROVED, False, "trusted author")
    word = blocked_word(rules, facts.text)
    if word is not None:
        return hide(f"blocked word '{word}'")
    if rules.hide_sensitive and (facts.sensitive or facts.has_content_warning):
        return hide("marked sensitive or behind a content warning")
    if rules.hide_replies and facts.is_reply:
        return hide("reply")
    if rules.hide_boosts and facts.is_boost:
        return hide("boost")
    if rules.allowed_languages and facts.language:
        base = facts.language.split("-")[0].lower()
        if base not in rules.allowed_languages:
            return hide(f"language '{base}' not allowed")
    if over_rate:
        return hide("rate limit: too many posts in a short time")
    if mode == ModerationMode.APPROVE_FIRST:
        return Verdict(PostState.PENDING, True, "")
    if mode == ModerationMode.AFTER_THE_FACT:
        return Verdict(PostState.APPROVED, True, "")
    return Verdict(PostState.APPROVED, False, "")
