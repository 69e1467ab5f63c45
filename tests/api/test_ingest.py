"""Ingest, the one door: duplicates, edits, deletes and language, seen through the API."""

from __future__ import annotations

from typing import Any

import pytest

from backchannel.errors import Forbidden

URI = "https://social.example/users/bob/statuses/1"
BOB = {"acct": "bob@social.example", "display_name": "Bob", "source": "mastodon"}


async def with_event(api: Any, **fields: Any) -> str:
    organiser = await api.user("olga", "organiser")
    await api.create_event(organiser, "dk2018", **fields)
    return str(organiser)


async def test_the_same_source_uri_twice_is_one_post(api: Any) -> None:
    await with_event(api)
    first = await api.ingest(source_uri=URI, content_html="<p>hello #dk2018</p>", author=BOB)
    second = await api.ingest(source_uri=URI, content_html="<p>hello #dk2018</p>", author=BOB)
    assert (first.outcome, second.outcome) == ("created", "unchanged")
    assert first.post.id == second.post.id
    for timeline in (
        await api.timeline("dk2018"),
        await api.tag_timeline("dk2018"),
        (await api.wall("dk2018"))["posts"],
        await api.get_json("/api/accounts/bob@social.example/timeline"),
    ):
        assert [(p["uri"], p["text"]) for p in timeline] == [(URI, "hello #dk2018")]


async def test_a_changed_post_is_an_edit_shown_everywhere(api: Any) -> None:
    await with_event(api, aliases=["dk18"])
    first = await api.ingest(source_uri=URI, content_html="<p>helo #dk2018 #typo</p>", author=BOB)
    created = await api.get_json(f"/api/posts/{first.post.id}")
    assert created["edited_at"] is None
    second = await api.ingest(
        source_uri=URI,
        content_html="<p>hello #dk18, fixed</p>",
        author={**BOB, "display_name": "Bob B."},
        edited_at="2025-05-14T10:30:00+02:00",
    )
    assert second.outcome == "updated"
    post = await api.get_json(f"/api/posts/{first.post.id}")
    assert post["id"] == created["id"]
    assert post["text"] == "hello #dk18, fixed"
    assert "hello" in post["content"] and "helo" not in post["content"]
    assert post["edited_at"] is not None and post["edited_at"].startswith("2025-05-14T08:30:00")
    assert post["account"]["display_name"] == "Bob B."
    # The event still shows it (now through the alias), once, with the new text.
    assert api.texts(await api.timeline("dk2018")) == ["hello #dk18, fixed"]
    assert api.texts((await api.wall("dk2018"))["posts"]) == ["hello #dk18, fixed"]
    # Tags follow the edit.
    assert await api.tag_timeline("typo") == []
    assert await api.tag_timeline("dk2018") == []
    assert api.texts(await api.tag_timeline("dk18")) == ["hello #dk18, fixed"]


async def test_an_edit_without_a_timestamp_gets_one(api: Any) -> None:
    await with_event(api)
    first = await api.ingest(source_uri=URI, content_html="<p>one #dk2018</p>", author=BOB)
    await api.ingest(source_uri=URI, content_html="<p>two #dk2018</p>", author=BOB)
    post = await api.get_json(f"/api/posts/{first.post.id}")
    assert post["edited_at"] is not None
    assert post["text"] == "two #dk2018"


async def test_an_edit_that_drops_the_event_tag_takes_the_post_off_the_event(api: Any) -> None:
    await with_event(api)
    await api.ingest(source_uri=URI, content_html="<p>at #dk2018</p>", author=BOB)
    await api.ingest(source_uri=URI, content_html="<p>never mind</p>", author=BOB)
    assert await api.timeline("dk2018") == []
    assert (await api.wall("dk2018"))["posts"] == []
    assert await api.tag_timeline("dk2018") == []
    posts = await api.get_json("/api/accounts/bob@social.example/timeline")
    assert api.texts(posts) == ["never mind"]


async def test_an_edit_keeps_a_moderators_decision(api: Any) -> None:
    organiser = await with_event(api, moderation_mode="approve_first")
    result = await api.ingest(source_uri=URI, content_html="<p>v1 #dk2018</p>", author=BOB)
    response = await api.http.post(
        f"/api/events/dk2018/posts/{result.post.id}/approve", headers=api.auth(organiser)
    )
    assert response.status_code == 200, response.text
    await api.ingest(source_uri=URI, content_html="<p>v2 #dk2018</p>", author=BOB)
    assert api.texts(await api.timeline("dk2018")) == ["v2 #dk2018"]


async def test_another_author_cannot_take_over_a_post(api: Any) -> None:
    await with_event(api)
    await api.ingest(source_uri=URI, content_html="<p>mine #dk2018</p>", author=BOB)
    mallory = {"acct": "mallory@evil.example", "source": "mastodon"}
    with pytest.raises(Forbidden, match="author"):
        await api.ingest(source_uri=URI, content_html="<p>now mine #dk2018</p>", author=mallory)
    [post] = await api.timeline("dk2018")
    assert (post["text"], post["account"]["acct"]) == ("mine #dk2018", "bob@social.example")


async def test_delete_removes_it_everywhere_and_a_late_copy_stays_deleted(api: Any) -> None:
    await with_event(api)
    result = await api.ingest(source_uri=URI, content_html="<p>oops #dk2018</p>", author=BOB)
    await api.ingest(
        source_uri="https://social.example/users/bob/statuses/2",
        content_html="<p>keeper #dk2018</p>",
        author=BOB,
    )
    assert await api.delete_remote(URI) is True
    assert api.texts(await api.timeline("dk2018")) == ["keeper #dk2018"]
    assert api.texts(await api.tag_timeline("dk2018")) == ["keeper #dk2018"]
    assert api.texts((await api.wall("dk2018"))["posts"]) == ["keeper #dk2018"]
    assert (await api.http.get(f"/api/posts/{result.post.id}")).status_code == 404

    # A relay delivers the create again, late: it stays deleted.
    late = await api.ingest(source_uri=URI, content_html="<p>oops #dk2018</p>", author=BOB)
    assert late.outcome == "deleted"
    assert api.texts(await api.timeline("dk2018")) == ["keeper #dk2018"]
    assert api.texts(await api.tag_timeline("dk2018")) == ["keeper #dk2018"]


async def test_a_delete_that_arrives_before_the_post_wins(api: Any) -> None:
    await with_event(api)
    assert await api.delete_remote(URI) is False
    late = await api.ingest(source_uri=URI, content_html="<p>too late #dk2018</p>", author=BOB)
    assert late.outcome == "deleted"
    assert await api.timeline("dk2018") == []
    assert await api.tag_timeline("dk2018") == []


async def test_a_local_delete_through_the_api(api: Any) -> None:
    await with_event(api)
    alice = await api.user("alice")
    bob = await api.user("bob")
    post = await api.post(alice, "mine #dk2018")
    response = await api.http.delete(f"/api/posts/{post['id']}", headers=api.auth(bob))
    assert response.status_code == 403
    assert api.texts(await api.timeline("dk2018")) == ["mine #dk2018"]
    response = await api.http.delete(f"/api/posts/{post['id']}", headers=api.auth(alice))
    assert response.status_code == 204
    assert await api.timeline("dk2018") == []
    assert await api.tag_timeline("dk2018") == []
    assert await api.get_json("/api/accounts/alice/timeline") == []
    response = await api.http.delete(f"/api/posts/{post['id']}", headers=api.auth(alice))
    assert response.status_code == 404


async def test_a_local_edit_through_the_api(api: Any) -> None:
    await with_event(api)
    alice = await api.user("alice")
    bob = await api.user("bob")
    post = await api.post(alice, "frist #dk2018")
    response = await api.http.patch(
        f"/api/posts/{post['id']}", json={"status": "hijacked #dk2018"}, headers=api.auth(bob)
    )
    assert response.status_code == 403
    response = await api.http.patch(
        f"/api/posts/{post['id']}", json={"status": "first #dk2018"}, headers=api.auth(alice)
    )
    assert response.status_code == 200, response.text
    assert response.json()["edited_at"] is not None
    [shown] = await api.timeline("dk2018")
    assert (shown["id"], shown["text"]) == (post["id"], "first #dk2018")


async def test_language_is_detected_when_missing(api: Any) -> None:
    await with_event(api)
    german = (
        "Die Digitalisierung verändert unsere Arbeitswelt grundlegend, und wir müssen "
        "darüber sprechen, wie wir alle Menschen mitnehmen können. #dk2018"
    )
    english = (
        "The keynote was about digital skills and how everybody can take part in the "
        "conversation, not just the people on stage. #dk2018"
    )
    de = await api.ingest(source_uri=URI, content_html=f"<p>{german}</p>", author=BOB)
    en = await api.ingest(
        source_uri="https://social.example/2", content_html=f"<p>{english}</p>", author=BOB
    )
    stated = await api.ingest(
        source_uri="https://social.example/3",
        content_html=f"<p>{german}</p>",
        author=BOB,
        language="DE-at",
    )
    alice = await api.user("alice")
    local = await api.post(alice, german)
    languages = {p["id"]: p["language"] for p in await api.timeline("dk2018")}
    assert languages[str(de.post.id)] == "de"
    assert languages[str(en.post.id)] == "en"
    assert languages[str(stated.post.id)] == "de-at"
    assert languages[local["id"]] == "de"


async def test_too_little_text_has_no_language_rather_than_a_wrong_one(api: Any) -> None:
    await with_event(api)
    result = await api.ingest(source_uri=URI, content_html="<p>ok #dk2018</p>", author=BOB)
    post = await api.get_json(f"/api/posts/{result.post.id}")
    assert post["language"] is None


async def test_an_author_who_opts_out_later_leaves_the_wall(api: Any) -> None:
    await with_event(api)
    await api.ingest(source_uri=URI, content_html="<p>hello #dk2018</p>", author=BOB)
    assert api.texts((await api.wall("dk2018"))["posts"]) == ["hello #dk2018"]
    # Their account now says no (Mastodon's indexable: false): the next post brings it.
    await api.ingest(
        source_uri=URI + "-2",
        content_html="<p>again #dk2018</p>",
        author={**BOB, "opted_out": True},
    )
    assert (await api.wall("dk2018"))["posts"] == []
    assert await api.timeline("dk2018") == []
