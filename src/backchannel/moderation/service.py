"""Moderation use cases: admitting a new post to an event, and moderators' decisions.

Every change to what a wall shows is emitted on the event's wall and queue channels
in the same transaction that makes it, and every decision is written to the audit log.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from backchannel.db.writer import UnitOfWork
from backchannel.errors import BadRequest, NotFound
from backchannel.events.models import Event, ModerationMode
from backchannel.kit.clock import isoformat, utcnow
from backchannel.kit.ids import new_id
from backchannel.moderation import repository as repo
from backchannel.moderation.models import AuditEntry, EventPost, PostState
from backchannel.moderation.rules import OPTED_OUT, PostFacts, Verdict, evaluate
from backchannel.moderation.schemas import Action, Rules
from backchannel.people.models import Account
from backchannel.posts.models import Post
from backchannel.streams import channels
from backchannel.streams.frames import Enveloped, encode


def rules_of(event: Event) -> Rules:
    return Rules.model_validate(event.rules or {})


def _group_rules(uow: UnitOfWork, event: Event) -> Rules:
    """``rules_of(event)``, validated once per group (until the rules are replaced)."""
    cache: dict[int, tuple[object, Rules]] = uow.cache("moderation:rules")
    found = cache.get(event.id)
    # Compared by identity: a decision in the group assigns a new dict to event.rules.
    if found is None or found[0] is not event.rules:
        found = cache[event.id] = (event.rules, rules_of(event))
    return found[1]


def _queue_item(post_bytes: bytes, ep: EventPost | dict[str, Any]) -> bytes:
    """A post as the moderation queue shows it; ``ep`` is the event post or its new row."""
    if isinstance(ep, EventPost):
        state, needs_review, pinned, reason = ep.state, ep.needs_review, ep.pinned, ep.reason
    else:
        state, needs_review, pinned = ep["state"], ep["needs_review"], ep["pinned"]
        reason = ep["reason"]
    meta = encode(
        {"state": state, "needs_review": needs_review, "pinned": pinned, "reason": reason}
    )
    # The post's own JSON is stored once for all of its channels: this frame stores
    # only what wraps it.
    return Enveloped(b'{"post":', post_bytes, b',"moderation":' + meta + b"}")


def _id(post_id: int) -> bytes:
    return encode({"id": str(post_id)})


async def admit(
    uow: UnitOfWork, event: Event, post: Post, post_bytes: bytes, facts: PostFacts
) -> None:
    """A post newly counts for ``event``: decide where it lands and tell the streams."""
    rules = _group_rules(uow, event)
    waiting = uow.deferred("event_posts", repo.NewEventPosts)
    over_rate = False
    if rules.rate_limit is not None:
        since = utcnow() - timedelta(seconds=rules.rate_limit.seconds)
        recent = await repo.count_recent(uow.session, event.id, post.author_id, since)
        # What this group admitted and has not written yet counts too.
        recent += waiting.waiting[event.id, post.author_id]
        over_rate = recent >= rules.rate_limit.posts
    verdict: Verdict = evaluate(
        ModerationMode(event.moderation_mode), rules, facts, over_rate=over_rate
    )
    approved = verdict.state == PostState.APPROVED
    row: dict[str, Any] = {
        "event_id": event.id,
        "post_id": post.id,
        "author_id": post.author_id,
        "state": verdict.state.value,
        "needs_review": verdict.needs_review,
        "reason": verdict.reason,
        "pinned": False,
        "held": approved and event.frozen_at is not None,
        "decided_by": None,
        "decided_at": None,
        "received_at": utcnow(),
    }
    waiting.add(row)
    uow.emit(channels.event_queue(event.id), "post", _queue_item(post_bytes, row))
    if approved and not row["held"]:
        uow.emit(channels.event_wall(event.id), "post", post_bytes)


def on_wall(ep: EventPost) -> bool:
    return ep.state == PostState.APPROVED.value and not ep.held


def post_updated(uow: UnitOfWork, ep: EventPost, post_bytes: bytes) -> None:
    if on_wall(ep):
        uow.emit(channels.event_wall(ep.event_id), "update", post_bytes)
    uow.emit(channels.event_queue(ep.event_id), "update", _queue_item(post_bytes, ep))


def post_removed(uow: UnitOfWork, ep: EventPost, *, deleted: bool) -> None:
    """The post left the event (deleted at its source, or no longer tagged)."""
    event = "delete" if deleted else "remove"
    if on_wall(ep):
        uow.emit(channels.event_wall(ep.event_id), event, _id(ep.post_id))
    uow.emit(channels.event_queue(ep.event_id), event, _id(ep.post_id))


def _audit(
    uow: UnitOfWork,
    event: Event,
    actor: Account,
    action: Action,
    *,
    post_id: int | None = None,
    target_acct: str | None = None,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        id=new_id(),
        event_id=event.id,
        actor_id=actor.id,
        actor_acct=actor.acct,
        action=action.value,
        post_id=post_id,
        target_acct=target_acct,
        reason=reason,
        details=details or {},
        created_at=utcnow(),
    )
    uow.session.add(entry)
    return entry


def _decision_frame(entry: AuditEntry, ep: EventPost | None) -> bytes:
    data: dict[str, Any] = {
        "action": entry.action,
        "by": entry.actor_acct,
        "reason": entry.reason,
        "at": isoformat(entry.created_at),
    }
    if ep is not None:
        data.update(
            post_id=str(ep.post_id), state=ep.state, pinned=ep.pinned, needs_review=ep.needs_review
        )
    if entry.target_acct:
        data["account"] = entry.target_acct
    return encode(data)


async def decide_post(
    uow: UnitOfWork,
    event: Event,
    actor: Account,
    action: Action,
    post: Post,
    post_bytes: bytes,
    reason: str = "",
) -> EventPost:
    """approve, hide, pin or unpin one post of the event."""
    ep = await repo.get(uow.session, event.id, post.id)
    if ep is None:
        raise NotFound(f"post {post.id} does not count for this event")
    was_on_wall = on_wall(ep)
    wall = channels.event_wall(event.id)
    if action == Action.APPROVE:
        ep.state = PostState.APPROVED.value
        ep.held = event.frozen_at is not None and not was_on_wall
    elif action == Action.HIDE:
        ep.state = PostState.HIDDEN.value
        ep.pinned = False
        ep.held = False
    elif action == Action.PIN:
        # Pinning is an announcement: it is shown, so it is approved too.
        ep.state = PostState.APPROVED.value
        ep.pinned = True
        ep.held = False
    elif action == Action.UNPIN:
        ep.pinned = False
    else:
        raise BadRequest(f"'{action.value}' is not a decision about one post")
    ep.needs_review = False
    ep.reason = reason
    ep.decided_by = actor.id
    ep.decided_at = utcnow()
    now_on_wall = on_wall(ep)
    if was_on_wall and not now_on_wall:
        uow.emit(wall, "remove", _id(post.id))
    elif now_on_wall and not was_on_wall:
        uow.emit(wall, "post", post_bytes)
    if action == Action.PIN:
        uow.emit(wall, "pin", post_bytes)
    elif action == Action.UNPIN:
        uow.emit(wall, "unpin", _id(post.id))
    entry = _audit(uow, event, actor, action, post_id=post.id, reason=reason)
    uow.emit(channels.event_queue(event.id), "decision", _decision_frame(entry, ep))
    return ep


async def ban(uow: UnitOfWork, event: Event, actor: Account, author: Account, reason: str) -> int:
    """Ban an author from the event: block them and hide what they posted. Returns how
    many posts were taken off."""
    rules = rules_of(event)
    acct = author.acct.lower()
    if acct not in rules.blocked_authors:
        rules.blocked_authors.append(acct)
    event.rules = rules.model_dump()
    hidden = 0
    for ep in await repo.visible_posts_of_author(uow.session, event.id, author.id):
        if on_wall(ep):
            uow.emit(channels.event_wall(event.id), "remove", _id(ep.post_id))
        ep.state = PostState.HIDDEN.value
        ep.pinned = False
        ep.held = False
        ep.needs_review = False
        ep.reason = "banned author"
        ep.decided_by = actor.id
        ep.decided_at = utcnow()
        hidden += 1
    entry = _audit(
        uow, event, actor, Action.BAN, target_acct=acct, reason=reason, details={"hidden": hidden}
    )
    uow.emit(channels.event_queue(event.id), "decision", _decision_frame(entry, None))
    return hidden


async def withdraw_opted_out(uow: UnitOfWork, author: Account) -> int:
    """Take an author who opted out off every event's walls and columns.

    Their new posts are hidden at admission; this is for what was admitted before we
    learned it (a Bluesky profile looked up late, a Mastodon account that became
    ``indexable: false``). Returns how many posts were taken off."""
    hidden = 0
    for ep in await repo.visible_posts_of_author_anywhere(uow.session, author.id):
        post_removed(uow, ep, deleted=False)
        ep.state = PostState.HIDDEN.value
        ep.pinned = False
        ep.held = False
        ep.needs_review = False
        ep.reason = OPTED_OUT
        ep.decided_at = utcnow()
        hidden += 1
    return hidden


async def unban(uow: UnitOfWork, event: Event, actor: Account, acct: str, reason: str) -> None:
    rules = rules_of(event)
    acct = acct.lower().removeprefix("@")
    if acct not in rules.blocked_authors:
        raise NotFound(f"'{acct}' is not banned from this event")
    rules.blocked_authors.remove(acct)
    event.rules = rules.model_dump()
    entry = _audit(uow, event, actor, Action.UNBAN, target_acct=acct, reason=reason)
    uow.emit(channels.event_queue(event.id), "decision", _decision_frame(entry, None))


async def set_frozen(
    uow: UnitOfWork,
    event: Event,
    actor: Account,
    frozen: bool,
    reason: str,
    post_bytes_of: Any,
) -> None:
    """Freeze: nothing new reaches the wall. Unfreeze: what was held back appears."""
    if frozen == (event.frozen_at is not None):
        return
    wall = channels.event_wall(event.id)
    if frozen:
        event.frozen_at = utcnow()
    else:
        event.frozen_at = None
        for post, ep in await repo.held_posts(uow.session, event.id):
            if ep.state == PostState.APPROVED.value:
                uow.emit(wall, "post", post_bytes_of(post))
        await repo.release_held(uow.session, event.id)
    uow.emit(wall, "freeze", encode({"frozen": frozen}))
    action = Action.FREEZE if frozen else Action.UNFREEZE
    entry = _audit(uow, event, actor, action, reason=reason)
    uow.emit(channels.event_queue(event.id), "decision", _decision_frame(entry, None))
    uow.emit(channels.event_queue(event.id), "freeze", encode({"frozen": frozen}))


async def set_rules(
    uow: UnitOfWork, event: Event, actor: Account, rules: Rules, mode: ModerationMode | None
) -> None:
    """New rules apply to posts from now on; what was decided stays decided."""
    before = {"rules": event.rules, "mode": event.moderation_mode}
    event.rules = rules.model_dump()
    if mode is not None:
        event.moderation_mode = mode.value
    entry = _audit(
        uow,
        event,
        actor,
        Action.RULES,
        details={"before": before, "after": {"rules": event.rules, "mode": event.moderation_mode}},
    )
    uow.emit(channels.event_queue(event.id), "decision", _decision_frame(entry, None))


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": str(entry.id),
        "action": entry.action,
        "by": entry.actor_acct,
        "post_id": str(entry.post_id) if entry.post_id else None,
        "account": entry.target_acct,
        "reason": entry.reason,
        "details": entry.details,
        "created_at": isoformat(entry.created_at),
    }
