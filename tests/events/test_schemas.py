"""Event bodies: hashtags normalised once, bad input named by its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from backchannel.events.models import Event, EventSession, EventTag, ModerationMode, TagKind
from backchannel.events.schemas import EventCreate, EventUpdate, SessionIn, event_json

STARTS = "2025-05-14T09:00:00+02:00"
ENDS = "2025-05-15T18:00:00+02:00"


def body(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Digitale Kompetenzen 2025",
        "primary_tag": "#DK2025",
        "starts_at": STARTS,
        "ends_at": ENDS,
    }
    data.update(changes)
    return data


def session_body(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "Keynote",
        "starts_at": "2025-05-14T09:00:00+02:00",
        "ends_at": "2025-05-14T10:00:00+02:00",
    }
    data.update(changes)
    return data


def fields(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [".".join(str(part) for part in err["loc"]) for err in exc.value.errors()]


def test_tags_are_normalised_and_aliases_deduplicated() -> None:
    data = EventCreate.model_validate(
        body(
            primary_tag="＃ÜberDK",
            aliases=["#dk25", "DK25", "uberdk", "#Straße"],
            sessions=[session_body(tag="#Keynote_DK")],
        )
    )
    assert data.primary_tag == "uberdk"
    assert data.aliases == ["dk25", "strasse"]
    assert data.sessions[0].tag == "keynote_dk"


def test_slug_defaults_to_the_primary_tag() -> None:
    assert EventCreate.model_validate(body(primary_tag="#DK_2025")).slug == "dk-2025"
    assert EventCreate.model_validate(body(slug="Digital-Skills")).slug == "digital-skills"


def test_a_primary_tag_without_ascii_needs_a_slug() -> None:
    with pytest.raises(ValidationError, match="slug"):
        EventCreate.model_validate(body(primary_tag="東京"))
    assert EventCreate.model_validate(body(primary_tag="東京", slug="tokyo")).primary_tag == "東京"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"primary_tag": "#2025"}, "primary_tag"),
        ({"primary_tag": "dk-2025"}, "primary_tag"),
        ({"aliases": ["ok", "not a tag"]}, "aliases.1"),
        ({"sessions": [session_body(tag="#1")]}, "sessions.0.tag"),
        ({"slug": "-dk"}, "slug"),
        ({"slug": "x" * 65}, "slug"),
        ({"name": ""}, "name"),
        ({"languages": ["deu"]}, "languages.0"),
        ({"description": "x" * 10_001}, "description"),
        ({"aliases": [f"tag{i}" for i in range(51)]}, "aliases"),
        ({"moderation_mode": "sometimes"}, "moderation_mode"),
        ({"rules": {"blocked_words": "spam"}}, "rules.blocked_words"),
    ],
)
def test_invalid_fields_are_named(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        EventCreate.model_validate(body(**changes))
    assert fields(exc) == [field]


def test_an_invalid_tag_is_named_in_the_message() -> None:
    with pytest.raises(ValidationError, match="'#2018' is not a hashtag"):
        EventCreate.model_validate(body(primary_tag="#2018"))
    with pytest.raises(ValidationError, match="'#a-b' is not a hashtag"):
        SessionIn.model_validate(session_body(tag="#a-b"))


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValidationError, match="needs a timezone offset") as exc:
        EventCreate.model_validate(body(starts_at="2025-05-14T09:00:00"))
    assert fields(exc) == ["starts_at"]
    with pytest.raises(ValidationError, match="needs a timezone offset") as exc:
        SessionIn.model_validate(session_body(ends_at="2025-05-14T10:00:00"))
    assert fields(exc) == ["ends_at"]


def test_an_event_may_not_end_before_it_starts() -> None:
    with pytest.raises(ValidationError) as exc:
        EventCreate.model_validate(body(ends_at="2025-05-13T09:00:00Z"))
    assert fields(exc) == ["ends_at"]
    # A one-day meetup may start and end at the same moment if nobody knows better.
    assert EventCreate.model_validate(body(ends_at=STARTS)).ends_at == datetime(
        2025, 5, 14, 9, tzinfo=timezone(timedelta(hours=2))
    )


def test_a_session_must_end_after_it_starts() -> None:
    with pytest.raises(ValidationError) as exc:
        SessionIn.model_validate(session_body(ends_at="2025-05-14T09:00:00+02:00"))
    assert fields(exc) == ["ends_at"]


def test_timezones_must_be_iana_names() -> None:
    assert EventCreate.model_validate(body(timezone="Europe/Berlin")).timezone == "Europe/Berlin"
    assert EventCreate.model_validate(body()).timezone == "UTC"
    for bad in ("Mars/Olympus", "../etc/passwd", "+02:00", ""):
        with pytest.raises(ValidationError) as exc:
            EventCreate.model_validate(body(timezone=bad))
        assert fields(exc) == ["timezone"]


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError) as exc:
        EventCreate.model_validate(body(hashtag="dk"))
    assert fields(exc) == ["hashtag"]
    with pytest.raises(ValidationError) as exc:
        EventCreate.model_validate(body(sessions=[session_body(speaker="Ada")]))
    assert fields(exc) == ["sessions.0.speaker"]
    with pytest.raises(ValidationError) as exc:
        EventUpdate.model_validate({"owner_id": 1})
    assert fields(exc) == ["owner_id"]


def test_defaults() -> None:
    data = EventCreate.model_validate(body(languages=["DE", "en", "de"]))
    assert data.languages == ["de", "en"]
    assert data.moderation_mode is ModerationMode.OPEN
    assert data.rules.blocked_words == []
    assert data.sessions == [] and data.aliases == []


def test_an_update_holds_only_what_was_given() -> None:
    data = EventUpdate.model_validate({"aliases": ["#DK25", "dk25"], "primary_tag": "dk2025"})
    assert data.model_fields_set == {"aliases", "primary_tag"}
    assert data.aliases == ["dk25"]
    assert (
        EventUpdate.model_validate({"aliases": ["dk2025"], "primary_tag": "dk2025"}).aliases == []
    )


def test_an_update_rejects_nulls_and_bad_values_by_field() -> None:
    for field in ("name", "primary_tag", "starts_at", "sessions"):
        with pytest.raises(ValidationError, match="must not be null") as exc:
            EventUpdate.model_validate({field: None})
        assert fields(exc) == [field]
    with pytest.raises(ValidationError) as exc:
        EventUpdate.model_validate({"aliases": ["#2018"]})
    assert fields(exc) == ["aliases.0"]
    with pytest.raises(ValidationError) as exc:
        EventUpdate.model_validate({"starts_at": STARTS, "ends_at": "2025-05-01T00:00:00Z"})
    assert fields(exc) == ["ends_at"]


def test_event_json() -> None:
    start = datetime(2025, 5, 14, 7, tzinfo=UTC)
    event = Event(
        id=42,
        slug="dk2025",
        name="DK",
        description="",
        primary_tag="dk2025",
        timezone="Europe/Berlin",
        starts_at=start,
        ends_at=start + timedelta(days=1),
        languages=["de"],
        moderation_mode=ModerationMode.APPROVE_FIRST.value,
        rules={"blocked_words": ["spam"]},
        tags=[
            EventTag(tag="dk2025", kind=TagKind.PRIMARY.value),
            EventTag(tag="dk25", kind=TagKind.ALIAS.value),
            EventTag(tag="keynote", kind=TagKind.SESSION.value),
        ],
        sessions=[
            EventSession(
                id=7,
                title="Keynote",
                speakers=["Ada"],
                room="A",
                starts_at=start,
                ends_at=start + timedelta(hours=1),
                tag="keynote",
            )
        ],
    )
    public = event_json(event, include_rules=False)
    assert public["id"] == "42"
    assert public["aliases"] == ["dk25"]
    assert public["tags"] == ["dk2025", "dk25", "keynote"]
    assert public["starts_at"] == "2025-05-14T07:00:00Z"
    assert public["frozen"] is False
    assert public["moderation_mode"] == "approve_first"
    assert public["sessions"][0] == {
        "id": "7",
        "title": "Keynote",
        "speakers": ["Ada"],
        "room": "A",
        "starts_at": "2025-05-14T07:00:00Z",
        "ends_at": "2025-05-14T08:00:00Z",
        "tag": "keynote",
    }
    assert "rules" not in public
    rules = event_json(event, include_rules=True)["rules"]
    assert rules["blocked_words"] == ["spam"] and rules["hide_replies"] is False
