"""Photos from the hall with a Mastodon app: upload (``/api/v2/media``), describe, post
with ``media_ids``, see them in statuses, timelines and on the wall, fetch the file.

Given a user with a Mastodon.py client, when they upload an image and post it, then
everyone sees it with its alt text and size, and the file comes back byte for byte
with the type found in its bytes (never the one the app claimed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from mastodon.errors import MastodonAPIError, MastodonNotFoundError

import support
from conftest import redis_url_or_unavailable
from support import LiveServer, serve_app
from support_mastodon import client, off_loop, user_token
from support_media import GIF, HTML, SVG, TINY_JPEG, png
from support_web import Site

#: The live app's ``media_upload_max_bytes`` here: small, so "too large" is cheap.
LIMIT = 20_000


@pytest.fixture(scope="module")
async def live(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    """As the root ``live`` (SQLite + memory broker, PostgreSQL + Redis), with a small
    upload limit."""
    redis_url = ""
    if database_url.startswith("postgresql"):
        redis_url = await redis_url_or_unavailable()
    settings = support.test_settings(
        tmp_path_factory.mktemp("live"), database_url, redis_url, media_upload_max_bytes=LIMIT
    )
    async with serve_app(settings) as server:
        yield server


def refusal(exc: pytest.ExceptionInfo[MastodonAPIError]) -> tuple[int, str]:
    """(status, message) of an error Mastodon.py raised."""
    _, status, _, message = exc.value.args
    return status, message


async def _upload(app: Any, data: bytes, mime: str = "image/png", **kwargs: Any) -> Any:
    return await off_loop(app.media_post, data, mime_type=mime, **kwargs)


async def test_photos_posted_with_an_app_show_everywhere_and_come_back_whole(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    alice = client(server, await user_token(server, "alice"))
    photo = png(12, 8)
    stage = await _upload(alice, photo, description="The stage, Hall A", focus=(0.5, -0.25))
    assert isinstance(stage.id, str) and stage.type == "image"
    assert stage.url.startswith(f"{server.base_url}/media/uploads/{stage.id}/")
    assert stage.url.endswith(".png") and stage.preview_url == stage.url
    assert stage.remote_url is None and stage.blurhash is None
    assert stage.description == "The stage, Hall A"
    assert stage.meta.original.width == 12 and stage.meta.original.height == 8
    assert stage.meta.original.size == "12x8" and stage.meta.original.aspect == 1.5
    assert (stage.meta.focus.x, stage.meta.focus.y) == (0.5, -0.25)
    # A JPEG the app calls a PNG: the bytes decide.
    slide = await _upload(alice, TINY_JPEG, mime="image/png")
    assert slide.url.endswith(".jpg") and slide.description is None
    assert (slide.meta.original.width, slide.meta.original.height) == (8, 6)

    status = await off_loop(
        alice.status_post, "Photos from the keynote #DK2018", media_ids=[stage, slide]
    )
    timeline = await off_loop(alice.timeline_hashtag, "dk2018")
    shown = await off_loop(alice.status, status.id)
    for seen in (status, shown, timeline[0]):
        assert [m.id for m in seen.media_attachments] == [stage.id, slide.id]
        first = seen.media_attachments[0]
        assert first.url == stage.url and first.preview_url == stage.url
        assert first.type == "image" and first.description == "The stage, Hall A"
        assert first.meta.original.width == 12 and first.meta.focus.x == 0.5
        assert first.remote_url is None
    assert [s.id for s in await off_loop(alice.timeline_hashtag, "dk2018", only_media=True)] == [
        status.id
    ]

    for medium, data, kind in ((stage, photo, "image/png"), (slide, TINY_JPEG, "image/jpeg")):
        response = await http.get(medium.url)  # no token: posts' images are links
        assert response.status_code == 200
        assert response.content == data
        assert response.headers["content-type"] == kind
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "immutable" in response.headers["cache-control"]
        assert "default-src 'none'" in response.headers["content-security-policy"]
        again = await http.get(medium.url, headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304
    guessed = stage.url.rsplit("/", 1)[0] + "/0123456789abcdef01234567.png"
    assert (await http.get(guessed)).status_code == 404


async def test_v1_answers_the_same_and_a_post_may_be_only_images(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    token = await user_token(server, "alice")
    response = await http.post(
        "/api/v1/media",
        files={"file": ("hall.gif", GIF, "application/octet-stream")},
        data={"description": "A dot"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    medium = response.json()
    assert medium["type"] == "image" and medium["url"].endswith(".gif")
    assert medium["meta"]["original"]["width"] == 1 and medium["description"] == "A dot"

    alice = client(server, token)
    status = await off_loop(alice.status_post, "", media_ids=[medium["id"]])
    assert status.content == "" and status.media_attachments[0].id == medium["id"]


async def test_images_that_are_not_accepted_are_refused_with_a_reason(server: LiveServer) -> None:
    alice = client(server, await user_token(server, "alice"))
    with pytest.raises(MastodonAPIError) as svg:
        await _upload(alice, SVG, mime="image/png")
    assert refusal(svg)[0] == 422 and "SVG" in refusal(svg)[1]
    with pytest.raises(MastodonAPIError) as page:
        await _upload(alice, HTML, mime="image/jpeg")
    assert refusal(page)[0] == 422 and "JPEG, PNG, GIF, WebP" in refusal(page)[1]
    with pytest.raises(MastodonAPIError) as big:
        await _upload(alice, png(200, 200) + b"\x00" * LIMIT)
    assert refusal(big)[0] == 422 and "too large" in refusal(big)[1]
    with pytest.raises(MastodonAPIError) as long_alt:
        await _upload(alice, png(), description="x" * 1501)
    assert refusal(long_alt)[0] == 422 and "1500" in refusal(long_alt)[1]
    with pytest.raises(MastodonAPIError) as off_image:
        await _upload(alice, png(), focus=(2.0, 0.0))
    assert refusal(off_image)[0] == 422 and "focus" in refusal(off_image)[1]
    # Nothing refused was kept: a post cannot name an image that was not taken.
    assert (await off_loop(alice.timeline_hashtag, "dk2018")) == []


async def test_a_far_too_large_body_is_refused_before_it_is_read(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    token = await user_token(server, "alice")
    response = await http.post(
        "/api/v2/media",
        files={"file": ("big.png", png() + b"\x00" * (10 * LIMIT), "image/png")},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422
    assert "too large" in response.json()["error"]


async def test_a_post_takes_only_its_authors_free_images_and_at_most_four(
    server: LiveServer,
) -> None:
    alice = client(server, await user_token(server, "alice"))
    bob = client(server, await user_token(server, "bob"))
    bobs = await _upload(bob, png())
    with pytest.raises(MastodonAPIError) as foreign:
        await off_loop(alice.status_post, "look #dk2018", media_ids=[bobs])
    assert refusal(foreign) == (422, f"Validation failed: no image of yours has the id {bobs.id}")

    mine = [await _upload(alice, png(2 + i, 2)) for i in range(5)]
    with pytest.raises(MastodonAPIError) as five:
        await off_loop(alice.status_post, "five #dk2018", media_ids=mine)
    assert refusal(five)[0] == 422 and "at most 4" in refusal(five)[1]
    posted = await off_loop(alice.status_post, "four #dk2018", media_ids=mine[:4])
    assert len(posted.media_attachments) == 4
    with pytest.raises(MastodonAPIError) as reused:
        await off_loop(alice.status_post, "again #dk2018", media_ids=[mine[0]])
    assert refusal(reused)[0] == 422 and "another post" in refusal(reused)[1]
    # Refused posts were not posted.
    assert [s.id for s in await off_loop(alice.timeline_hashtag, "dk2018")] == [posted.id]


async def test_alt_text_can_change_until_a_post_shows_the_image(server: LiveServer) -> None:
    alice = client(server, await user_token(server, "alice"))
    bob = client(server, await user_token(server, "bob"))
    medium = await _upload(alice, png(), description="blurry")
    updated = await off_loop(alice.media_update, medium, description="The panel", focus=(0, 1))
    assert updated.description == "The panel" and updated.meta.focus.y == 1.0
    assert (await off_loop(alice.media, medium)).description == "The panel"
    with pytest.raises(MastodonNotFoundError):
        await off_loop(bob.media, medium)
    with pytest.raises(MastodonNotFoundError):
        await off_loop(bob.media_update, medium, description="mine now")

    status = await off_loop(alice.status_post, "panel #dk2018", media_ids=[medium])
    assert status.media_attachments[0].description == "The panel"
    with pytest.raises(MastodonAPIError) as late:
        await off_loop(alice.media_update, medium, description="too late")
    assert refusal(late)[0] == 422 and "edit the post" in refusal(late)[1]


async def test_an_edit_changes_the_alt_text_of_the_posts_images(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    token = await user_token(server, "alice")
    alice = client(server, token)
    slide, photo = await _upload(alice, png(5, 5), description=""), await _upload(alice, png())
    stranger = await _upload(alice, png(2, 2))
    status = await off_loop(alice.status_post, "slides #dk2018", media_ids=[slide, photo])
    # As Mastodon.py sends it (JSON). It names the kept images by their attributes
    # (its media_ids become theirs), so both are there, one with new alt text.
    attributes = [
        alice.generate_media_edit_attributes(slide, description="Slide 1: agenda"),
        alice.generate_media_edit_attributes(photo),
    ]
    edited = await off_loop(
        alice.status_update, status.id, "slides #dk2018", media_attributes=attributes
    )
    assert [m.description for m in edited.media_attachments] == [
        "Slide 1: agenda",
        None,
    ]
    shown = await off_loop(alice.status, status.id)
    assert [m.id for m in shown.media_attachments] == [slide.id, photo.id]
    assert shown.media_attachments[0].description == "Slide 1: agenda"
    # As a form, with a focus too.
    form = {
        "status": "slides #dk2018",
        "media_attributes[][id]": photo.id,
        "media_attributes[][description]": "The room, full",
        "media_attributes[][focus]": "0.0,0.5",
    }
    response = await http.put(
        f"/api/v1/statuses/{status.id}", data=form, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    second = response.json()["media_attachments"][1]
    assert second["description"] == "The room, full" and second["meta"]["focus"]["y"] == 0.5
    # An image the post does not show cannot be described through it.
    response = await http.put(
        f"/api/v1/statuses/{status.id}",
        json={
            "status": "slides #dk2018",
            "media_attributes": [{"id": stranger.id, "description": "not here"}],
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422 and "not one of this post" in response.json()["error"]
    assert (await off_loop(alice.media, stranger)).description in ("", None)


async def test_an_edit_replaces_the_images_and_a_deleted_post_frees_them(
    server: LiveServer,
) -> None:
    alice = client(server, await user_token(server, "alice"))
    first, second = await _upload(alice, png(3, 3)), await _upload(alice, png(4, 4))
    status = await off_loop(alice.status_post, "one #dk2018", media_ids=[first])
    kept = await off_loop(alice.status_update, status.id, "one, edited #dk2018")
    assert [m.id for m in kept.media_attachments] == [first.id]
    swapped = await off_loop(alice.status_update, status.id, "two #dk2018", media_ids=[second])
    assert [m.id for m in swapped.media_attachments] == [second.id]
    # The image the edit dropped is free again; the one it shows is not.
    other = await off_loop(alice.status_post, "first again #dk2018", media_ids=[first])
    assert [m.id for m in other.media_attachments] == [first.id]
    # Delete and redraft: the deleted post's image can be posted anew.
    await off_loop(alice.status_delete, status.id)
    redraft = await off_loop(alice.status_post, "two, redrafted #dk2018", media_ids=[second])
    assert [m.id for m in redraft.media_attachments] == [second.id]


async def test_uploading_needs_the_write_media_scope(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    reader = client(server, await user_token(server, "alice", scopes="read"))
    with pytest.raises(MastodonAPIError) as refused:
        await _upload(reader, png())
    assert refused.value.args[1] == 403
    anonymous = await http.post("/api/v2/media", files={"file": ("a.png", png(), "image/png")})
    assert anonymous.status_code == 401


async def test_polls_are_refused_not_dropped(server: LiveServer, http: httpx.AsyncClient) -> None:
    token = await user_token(server, "alice")
    alice = client(server, token)
    with pytest.raises(MastodonAPIError) as as_json:
        poll = alice.make_poll(["Yes", "No"], expires_in=3600)
        await off_loop(alice.status_post, "Coffee? #dk2018", poll=poll)
    assert refusal(as_json) == (422, "Polls are not supported on this server")
    as_form = await http.post(
        "/api/v1/statuses",
        data={"status": "Coffee? #dk2018", "poll[options][]": ["Yes", "No"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert as_form.status_code == 422
    assert as_form.json() == {"error": "Polls are not supported on this server"}
    assert (await off_loop(alice.timeline_hashtag, "dk2018")) == []


async def test_the_instance_tells_apps_what_they_may_upload(http: httpx.AsyncClient) -> None:
    configuration = (await http.get("/api/v2/instance")).json()["configuration"]
    assert configuration["statuses"]["max_media_attachments"] == 4
    media = configuration["media_attachments"]
    assert media["image_size_limit"] == LIMIT
    assert "image/jpeg" in media["supported_mime_types"]
    assert "image/svg+xml" not in media["supported_mime_types"]


async def test_the_wall_shows_uploads_from_this_site_directly(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    site = Site(server, http)
    await site.create_event("hall")
    alice = client(server, await user_token(server, "alice"))
    medium = await _upload(alice, png(), description="The hall")
    await off_loop(alice.status_post, "Full house #hall", media_ids=[medium])
    path = medium.url.removeprefix(server.base_url)

    [post] = (await http.get("/api/tags/hall/timeline")).json()
    [shown] = post["media_attachments"]
    assert shown["url"] == medium.url and shown["proxy_url"] == path
    wall = await http.get(f"/events/{site.slug}/wall")
    assert wall.status_code == 200
    assert f'src="{path}"' in wall.text and 'alt="The hall"' in wall.text
    assert (await http.get(path)).content == png()


async def test_a_phone_photo_is_served_without_where_it_was_taken(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    from backchannel.media.metadata import orientation_segment

    gps = b"GPS 52.5200 N 13.4050 E"
    exif = orientation_segment(6)[4:] + gps  # turned, as phones write portrait photos
    app1 = b"\xff\xe1" + (len(exif) + 2).to_bytes(2, "big") + exif
    photo = TINY_JPEG[:2] + app1 + TINY_JPEG[2:]
    alice = client(server, await user_token(server, "alice"))
    medium = await _upload(alice, photo, mime="image/jpeg")
    # Shown as the phone took it: portrait.
    assert (medium.meta.original.width, medium.meta.original.height) == (6, 8)
    served = (await http.get(medium.url)).content
    assert gps not in served
    assert served.endswith(TINY_JPEG[TINY_JPEG.index(b"\xff\xda") :])
