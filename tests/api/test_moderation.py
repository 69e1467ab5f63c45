"""Moderation per event: modes, rules, decisions, freeze and the audit log, via the API."""

from __future__ import annotations

from typing import Any

import pytest

SLUG = "modconf"


async def setup_event(api: Any, mode: str = "open", **rules: Any) -> tuple[str, str]:
    """An event owned by an organiser, with an attendee as one of its moderators.

    Returns (organiser token, moderator token)."""
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, SLUG, moderation_mode=mode, rules=rules)
    moderator = await api.user("moritz")
    response = await api.http.post(
        f"/api/events/{SLUG}/moderators", json={"username": "moritz"}, headers=api.auth(organiser)
    )
    assert response.status_code == 201, response.text
    return organiser, moderator


async def put_rules(api: Any, token: str, mode: str | None = None, **rules: Any) -> Any:
    body: dict[str, Any] = {"rules": rules}
    if mode is not None:
        body["moderation_mode"] = mode
    response = await api.http.put(f"/api/events/{SLUG}/rules", json=body, headers=api.auth(token))
    assert response.status_code == 200, response.text
    return response.json()


async def decide(api: Any, token: str, post_id: str, action: str, reason: str = "") -> Any:
    response = await api.http.post(
        f"/api/events/{SLUG}/posts/{post_id}/{action}",
        json={"reason": reason},
        headers=api.auth(token),
    )
    assert response.status_code == 200, response.text
    return response.json()


async def shown(api: Any) -> list[str]:
    """Texts on the public event timeline, newest first."""
    return list(api.texts(await api.timeline(SLUG)))


async def on_wall(api: Any) -> list[str]:
    return list(api.texts((await api.wall(SLUG))["posts"]))


async def hidden(api: Any, token: str) -> dict[str, str]:
    """Hidden posts as a moderator sees them: text → reason."""
    posts = await api.timeline(SLUG, token, state="hidden")
    return {p["text"]: p["moderation"]["reason"] for p in posts}


async def queue(api: Any, token: str) -> list[str]:
    return list(api.texts(await api.get_json(f"/api/events/{SLUG}/queue", token)))


async def remote(api: Any, n: int, acct: str, text: str, **fields: Any) -> str:
    result = await api.ingest(
        source_uri=f"https://{acct.split('@')[1]}/statuses/{n}",
        content_html=f"<p>{text}</p>",
        author={"acct": acct, "source": "mastodon"},
        **fields,
    )
    return str(result.post.id)


async def test_open_mode_shows_posts_at_once_and_queues_nothing(api: Any) -> None:
    _, moderator = await setup_event(api, "open")
    alice = await api.user("alice")
    await api.post(alice, "first #modconf")
    assert await shown(api) == ["first #modconf"]
    assert await on_wall(api) == ["first #modconf"]
    assert await queue(api, moderator) == []


async def test_after_the_fact_shows_at_once_and_queues_for_review(api: Any) -> None:
    _, moderator = await setup_event(api, "after_the_fact")
    alice = await api.user("alice")
    good = await api.post(alice, "good #modconf")
    bad = await api.post(alice, "bad #modconf")
    assert await shown(api) == ["bad #modconf", "good #modconf"]
    assert await on_wall(api) == ["bad #modconf", "good #modconf"]
    assert await queue(api, moderator) == ["bad #modconf", "good #modconf"]

    approved = await decide(api, moderator, good["id"], "approve")
    assert approved["moderation"]["state"] == "approved"
    removed = await decide(api, moderator, bad["id"], "hide", "off topic")
    assert removed["moderation"] == {
        "state": "hidden",
        "needs_review": False,
        "pinned": False,
        "reason": "off topic",
    }
    assert await queue(api, moderator) == []
    assert await shown(api) == ["good #modconf"]
    assert await on_wall(api) == ["good #modconf"]
    assert await hidden(api, moderator) == {"bad #modconf": "off topic"}


async def test_approve_first_holds_posts_until_a_moderator_approves(api: Any) -> None:
    _, moderator = await setup_event(api, "approve_first")
    alice = await api.user("alice")
    post = await api.post(alice, "please show me #modconf")
    assert await shown(api) == []
    assert await on_wall(api) == []
    waiting = await api.get_json(f"/api/events/{SLUG}/queue", moderator)
    assert api.texts(waiting) == ["please show me #modconf"]
    assert waiting[0]["moderation"]["state"] == "pending"
    pending = await api.timeline(SLUG, moderator, state="pending")
    assert api.ids(pending) == [post["id"]]
    # The post exists; it is only held back from the event's views.
    assert api.texts(await api.tag_timeline("modconf")) == ["please show me #modconf"]

    await decide(api, moderator, post["id"], "approve", "fine")
    assert await shown(api) == ["please show me #modconf"]
    assert await on_wall(api) == ["please show me #modconf"]
    assert await queue(api, moderator) == []


async def test_trusted_authors_are_approved_at_once_in_approve_first(api: Any) -> None:
    _, moderator = await setup_event(
        api, "approve_first", trusted_authors=["@Speaker", "keynote@Conf.example"]
    )
    speaker = await api.user("speaker")
    alice = await api.user("alice")
    await api.post(speaker, "slides are up #modconf")
    await api.post(alice, "great talk #modconf")
    await remote(api, 1, "keynote@conf.example", "thanks all #modconf")
    assert await shown(api) == ["thanks all #modconf", "slides are up #modconf"]
    assert await queue(api, moderator) == ["great talk #modconf"]


async def test_blocked_words_hide_whole_words_in_text_and_content_warnings(api: Any) -> None:
    _, moderator = await setup_event(api, "open", blocked_words=["spam", "buy now"])
    alice = await api.user("alice")
    await api.post(alice, "SPAM here #modconf")
    await api.post(alice, "click to Buy now #modconf")
    await api.post(alice, "looks innocent #modconf", spoiler_text="spam inside")
    await api.post(alice, "spamming is a different word #modconf")
    await api.post(alice, "buy nowhere #modconf")
    assert await shown(api) == ["buy nowhere #modconf", "spamming is a different word #modconf"]
    assert await hidden(api, moderator) == {
        "SPAM here #modconf": "blocked word 'spam'",
        "click to Buy now #modconf": "blocked word 'buy now'",
        "looks innocent #modconf": "blocked word 'spam'",
    }


async def test_blocked_authors_and_domains(api: Any) -> None:
    _, moderator = await setup_event(
        api,
        "open",
        blocked_authors=["@Troll", "bad@elsewhere.example"],
        blocked_domains=["spam.example"],
    )
    troll = await api.user("troll")
    alice = await api.user("alice")
    await api.post(troll, "local troll #modconf")
    await api.post(alice, "alice is fine #modconf")
    await remote(api, 1, "bad@elsewhere.example", "remote troll #modconf")
    await remote(api, 2, "good@elsewhere.example", "remote friend #modconf")
    await remote(api, 3, "x@spam.example", "domain spam #modconf")
    await remote(api, 4, "y@sub.spam.example", "subdomain spam #modconf")
    await remote(api, 5, "z@notspam.example", "lookalike domain #modconf")
    assert sorted(await shown(api)) == [
        "alice is fine #modconf",
        "lookalike domain #modconf",
        "remote friend #modconf",
    ]
    reasons = await hidden(api, moderator)
    assert reasons["local troll #modconf"] == "blocked author"
    assert reasons["remote troll #modconf"] == "blocked author"
    assert "spam.example" in reasons["domain spam #modconf"]
    assert "sub.spam.example" in reasons["subdomain spam #modconf"]


async def test_hide_sensitive_and_content_warnings(api: Any) -> None:
    _, moderator = await setup_event(api, "open", hide_sensitive=True)
    alice = await api.user("alice")
    await api.post(alice, "plain #modconf")
    await api.post(alice, "nsfw #modconf", sensitive=True)
    await api.post(alice, "spoiler #modconf", spoiler_text="ending of the talk")
    await remote(api, 1, "r@social.example", "remote cw #modconf", spoiler_text="cw")
    assert await shown(api) == ["plain #modconf"]
    assert set(await hidden(api, moderator)) == {
        "nsfw #modconf",
        "spoiler #modconf",
        "remote cw #modconf",
    }


async def test_hide_replies(api: Any) -> None:
    await setup_event(api, "open", hide_replies=True)
    alice = await api.user("alice")
    parent = await api.post(alice, "a question #modconf")
    await api.post(alice, "an answer #modconf", in_reply_to_id=parent["id"])
    await remote(
        api,
        1,
        "r@social.example",
        "remote answer #modconf",
        in_reply_to_uri="https://other.example/1",
    )
    assert await shown(api) == ["a question #modconf"]


async def test_hide_boosts(api: Any) -> None:
    organiser, _ = await setup_event(api, "open")
    await remote(
        api, 1, "r@social.example", "boosted #modconf", reblog_of_uri="https://x.example/1"
    )
    assert await shown(api) == ["boosted #modconf"]
    await put_rules(api, organiser, hide_boosts=True)
    await remote(
        api, 2, "r@social.example", "boost two #modconf", reblog_of_uri="https://x.example/2"
    )
    await remote(api, 3, "r@social.example", "own post #modconf")
    # New rules apply from now on; what was decided stays decided.
    assert await shown(api) == ["own post #modconf", "boosted #modconf"]


async def test_allowed_languages(api: Any) -> None:
    _, moderator = await setup_event(api, "open", allowed_languages=["en"])
    alice = await api.user("alice")
    await api.post(alice, "hello everyone #modconf", language="en")
    await api.post(alice, "hallo zusammen #modconf", language="de")
    await remote(api, 1, "r@social.example", "bonjour #modconf", language="fr-CA")
    await remote(api, 2, "r@social.example", "howdy #modconf", language="en-US")
    assert sorted(await shown(api)) == ["hello everyone #modconf", "howdy #modconf"]
    reasons = await hidden(api, moderator)
    assert "'de'" in reasons["hallo zusammen #modconf"]
    assert "'fr'" in reasons["bonjour #modconf"]


async def test_per_author_rate_limit(api: Any) -> None:
    _, moderator = await setup_event(api, "open", rate_limit={"posts": 2, "seconds": 3600})
    alice = await api.user("alice")
    bob = await api.user("bob")
    for n in range(4):
        await api.post(alice, f"alice {n} #modconf")
    await api.post(bob, "bob 0 #modconf")
    assert await shown(api) == ["bob 0 #modconf", "alice 1 #modconf", "alice 0 #modconf"]
    reasons = await hidden(api, moderator)
    assert set(reasons) == {"alice 2 #modconf", "alice 3 #modconf"}
    assert all("rate limit" in r for r in reasons.values())


async def test_pin_and_unpin(api: Any) -> None:
    _, moderator = await setup_event(api, "approve_first")
    alice = await api.user("alice")
    post = await api.post(alice, "coffee in room B #modconf")
    other = await api.post(alice, "other #modconf")
    # Pinning a pending post shows it: a pin is an announcement.
    pinned = await decide(api, moderator, post["id"], "pin", "announcement")
    assert pinned["moderation"]["pinned"] is True
    wall = await api.wall(SLUG)
    assert api.texts(wall["pinned"]) == ["coffee in room B #modconf"]
    assert api.texts(wall["posts"]) == ["coffee in room B #modconf"]
    assert other["id"] not in api.ids(wall["posts"])

    await decide(api, moderator, post["id"], "unpin")
    wall = await api.wall(SLUG)
    assert wall["pinned"] == []
    assert api.texts(wall["posts"]) == ["coffee in room B #modconf"]

    await decide(api, moderator, post["id"], "pin")
    await decide(api, moderator, post["id"], "hide")
    wall = await api.wall(SLUG)
    assert (wall["pinned"], wall["posts"]) == ([], [])


async def test_ban_and_unban(api: Any) -> None:
    organiser, moderator = await setup_event(api, "open")
    alice = await api.user("alice")
    bob = await api.user("bob")
    await api.post(alice, "alice one #modconf")
    await api.post(alice, "alice two #modconf")
    await api.post(bob, "bob one #modconf")
    await remote(api, 1, "troll@social.example", "remote one #modconf")

    response = await api.http.post(
        f"/api/events/{SLUG}/bans",
        json={"account": "@Alice", "reason": "flooding"},
        headers=api.auth(moderator),
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"account": "alice", "hidden": 2}
    response = await api.http.post(
        f"/api/events/{SLUG}/bans",
        json={"account": "troll@social.example"},
        headers=api.auth(moderator),
    )
    assert response.json() == {"account": "troll@social.example", "hidden": 1}
    await api.post(alice, "alice three #modconf")
    assert await shown(api) == ["bob one #modconf"]
    assert await on_wall(api) == ["bob one #modconf"]
    rules = await api.get_json(f"/api/events/{SLUG}/rules", moderator)
    assert set(rules["rules"]["blocked_authors"]) == {"alice", "troll@social.example"}

    response = await api.http.delete(f"/api/events/{SLUG}/bans/alice", headers=api.auth(moderator))
    assert response.status_code == 200, response.text
    await api.post(alice, "alice four #modconf")
    # Unbanning lets new posts through; what was hidden stays hidden.
    assert await shown(api) == ["alice four #modconf", "bob one #modconf"]
    again = await api.http.delete(f"/api/events/{SLUG}/bans/alice", headers=api.auth(moderator))
    assert again.status_code == 404
    assert "error" in again.json()

    audit = await api.get_json(f"/api/events/{SLUG}/audit", organiser)
    assert [(e["action"], e["by"], e["account"]) for e in audit] == [
        ("unban", "moritz", "alice"),
        ("ban", "moritz", "troll@social.example"),
        ("ban", "moritz", "alice"),
    ]
    assert audit[2]["reason"] == "flooding"
    assert audit[2]["details"] == {"hidden": 2}


async def test_freeze_holds_new_posts_back_from_the_wall_until_unfrozen(api: Any) -> None:
    _, moderator = await setup_event(api, "open")
    alice = await api.user("alice")
    await api.post(alice, "before #modconf")
    response = await api.http.post(
        f"/api/events/{SLUG}/freeze", json={"reason": "keynote"}, headers=api.auth(moderator)
    )
    assert response.json() == {"frozen": True}
    await api.post(alice, "during #modconf")
    wall = await api.wall(SLUG)
    assert wall["frozen"] is True
    assert api.texts(wall["posts"]) == ["before #modconf"]
    assert (await api.get_json(f"/api/events/{SLUG}"))["frozen"] is True

    response = await api.http.post(f"/api/events/{SLUG}/unfreeze", headers=api.auth(moderator))
    assert response.json() == {"frozen": False}
    wall = await api.wall(SLUG)
    assert wall["frozen"] is False
    assert api.texts(wall["posts"]) == ["during #modconf", "before #modconf"]


async def test_posts_approved_while_frozen_wait_for_the_unfreeze(api: Any) -> None:
    _, moderator = await setup_event(api, "approve_first")
    alice = await api.user("alice")
    early = await api.post(alice, "early #modconf")
    late = await api.post(alice, "late #modconf")
    await decide(api, moderator, early["id"], "approve")
    await api.http.post(f"/api/events/{SLUG}/freeze", headers=api.auth(moderator))
    await decide(api, moderator, late["id"], "approve")
    assert await on_wall(api) == ["early #modconf"]
    await api.http.post(f"/api/events/{SLUG}/unfreeze", headers=api.auth(moderator))
    assert await on_wall(api) == ["late #modconf", "early #modconf"]


async def test_the_audit_log_records_who_did_what_and_why(api: Any) -> None:
    organiser, moderator = await setup_event(api, "after_the_fact")
    alice = await api.user("alice")
    post = await api.post(alice, "audited #modconf")
    await decide(api, moderator, post["id"], "hide", "rude")
    await decide(api, organiser, post["id"], "approve", "on second thought")
    await api.http.post(
        f"/api/events/{SLUG}/freeze", json={"reason": "q&a"}, headers=api.auth(moderator)
    )
    await api.http.post(f"/api/events/{SLUG}/unfreeze", headers=api.auth(moderator))
    await put_rules(api, organiser, "approve_first", blocked_words=["rude"])

    audit = await api.get_json(f"/api/events/{SLUG}/audit", moderator)
    assert [(e["action"], e["by"], e["post_id"], e["reason"]) for e in audit] == [
        ("rules", "olga", None, ""),
        ("unfreeze", "moritz", None, ""),
        ("freeze", "moritz", None, "q&a"),
        ("approve", "olga", post["id"], "on second thought"),
        ("hide", "moritz", post["id"], "rude"),
    ]
    assert all(e["created_at"] for e in audit)
    rules_entry = audit[0]["details"]
    assert rules_entry["before"]["mode"] == "after_the_fact"
    assert rules_entry["after"]["mode"] == "approve_first"
    assert rules_entry["after"]["rules"]["blocked_words"] == ["rude"]
    # Paging: older than the newest entry.
    older = await api.get_json(
        f"/api/events/{SLUG}/audit", moderator, max_id=audit[0]["id"], limit=2
    )
    assert [e["action"] for e in older] == ["unfreeze", "freeze"]


async def test_put_rules_replaces_rules_and_mode(api: Any) -> None:
    organiser, moderator = await setup_event(api, "open", blocked_words=["old"])
    answer = await put_rules(api, moderator, "approve_first", blocked_words=["new"])
    assert answer["moderation_mode"] == "approve_first"
    assert answer["rules"]["blocked_words"] == ["new"]
    current = await api.get_json(f"/api/events/{SLUG}/rules", organiser)
    assert current["moderation_mode"] == "approve_first"
    assert current["rules"]["blocked_words"] == ["new"]
    event = await api.get_json(f"/api/events/{SLUG}", moderator)
    assert event["rules"]["blocked_words"] == ["new"]
    assert event["moderation_mode"] == "approve_first"
    # The public does not see the rules.
    assert "rules" not in await api.get_json(f"/api/events/{SLUG}")

    alice = await api.user("alice")
    await api.post(alice, "old is fine now #modconf")
    await api.post(alice, "new is not #modconf")
    assert await shown(api) == []
    assert await queue(api, moderator) == ["old is fine now #modconf"]

    # Without a mode the mode stays; the rules are replaced as a whole.
    answer = await put_rules(api, moderator, hide_replies=True)
    assert answer["moderation_mode"] == "approve_first"
    assert answer["rules"]["blocked_words"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"rules": {"blocked_wrods": ["typo"]}},
        {"rules": {"rate_limit": {"posts": 0, "seconds": 10}}},
        {"rules": {"allowed_languages": ["english"]}},
        {"rules": {}, "moderation_mode": "anything_goes"},
    ],
    ids=["unknown-rule", "zero-rate", "bad-language", "bad-mode"],
)
async def test_invalid_rules_are_refused_and_change_nothing(api: Any, body: dict[str, Any]) -> None:
    organiser, _ = await setup_event(api, "open", blocked_words=["keep"])
    response = await api.http.put(
        f"/api/events/{SLUG}/rules", json=body, headers=api.auth(organiser)
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]
    current = await api.get_json(f"/api/events/{SLUG}/rules", organiser)
    assert current["rules"]["blocked_words"] == ["keep"]
    assert current["moderation_mode"] == "open"
    assert await api.get_json(f"/api/events/{SLUG}/audit", organiser) == []


async def test_an_event_moderator_loses_the_right_when_removed(api: Any) -> None:
    organiser, moderator = await setup_event(api, "open")
    alice = await api.user("alice")
    post = await api.post(alice, "hello #modconf")
    await decide(api, moderator, post["id"], "pin")
    response = await api.http.delete(
        f"/api/events/{SLUG}/moderators/moritz", headers=api.auth(organiser)
    )
    assert response.status_code == 204
    response = await api.http.post(
        f"/api/events/{SLUG}/posts/{post['id']}/hide", headers=api.auth(moderator)
    )
    assert response.status_code == 403
    assert api.texts((await api.wall(SLUG))["pinned"]) == ["hello #modconf"]


async def test_an_instance_moderator_moderates_every_event(api: Any) -> None:
    await setup_event(api, "approve_first")
    staff = await api.user("staff", "moderator")
    alice = await api.user("alice")
    post = await api.post(alice, "hello #modconf")
    assert await queue(api, staff) == ["hello #modconf"]
    await decide(api, staff, post["id"], "approve")
    assert await shown(api) == ["hello #modconf"]


async def test_banning_a_remote_author_whose_name_has_capitals(api: Any) -> None:
    # Mastodon keeps the case of usernames (@Gargron); domains have no case.
    _, moderator = await setup_event(api, "open")
    await remote(api, 1, "Gargron@mastodon.example", "hello #modconf")
    for spelling in ("@Gargron@Mastodon.example", "Gargron@mastodon.example"):
        response = await api.http.post(
            f"/api/events/{SLUG}/bans", json={"account": spelling}, headers=api.auth(moderator)
        )
        assert response.status_code == 200, (spelling, response.text)
    await remote(api, 2, "Gargron@mastodon.example", "again #modconf")
    assert await shown(api) == []
    response = await api.http.delete(
        f"/api/events/{SLUG}/bans/Gargron@mastodon.example", headers=api.auth(moderator)
    )
    assert response.status_code == 200, response.text
    await remote(api, 3, "Gargron@mastodon.example", "back #modconf")
    assert await shown(api) == ["back #modconf"]
