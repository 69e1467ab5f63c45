"""The timelines (tag, public, home, an account's statuses) read on their fast path:
one statement per page, JSON written from rows. What a client sees must not depend on
the path: every status in a timeline is the very JSON ``GET /api/v1/statuses/:id``
gives the same viewer, filters and paging select what they always did, and counters
read fresh on every page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backchannel.db.writer import UnitOfWork
from backchannel.people.schemas import AuthorIn
from backchannel.posts import service as posts
from backchannel.posts.models import SourceKind
from backchannel.posts.schemas import MediaIn, PostIn
from support import LiveServer
from support_mastodon import user_token

REMOTE = "https://remote.example"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Scene:
    alice: str
    bob: str
    carol_id: str
    #: Ids of the public #tl posts, newest first, and of the other statuses.
    tagged: list[str]
    with_media: str
    remote: str
    alice_unlisted: str
    alice_private: str
    boost: str


async def _remote_post(server: LiveServer, n: int, text: str, **extra: Any) -> None:
    data = PostIn(
        source=SourceKind.MASTODON,
        source_uri=f"{REMOTE}/users/carol/statuses/{n}",
        url=f"{REMOTE}/@carol/{n}",
        author=AuthorIn(
            acct="carol@remote.example",
            display_name="Carol",
            avatar_url=f"{REMOTE}/carol.png",
            profile_url=f"{REMOTE}/@carol",
            actor_uri=f"{REMOTE}/users/carol",
            note="plain note\n\nsecond paragraph",
            source="mastodon",
        ),
        content_html=f"<p>{text}</p>",
        **extra,
    )
    base = server.services.settings.public_url()

    async def write(uow: UnitOfWork) -> None:
        await posts.ingest(uow, data, base_url=base)

    await server.services.writer.submit(write)


async def _post(http: Any, token: str, text: str, **fields: str) -> str:
    response = await http.post(
        "/api/v1/statuses", data={"status": text, **fields}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    status_id: str = response.json()["id"]
    return status_id


async def _scene(server: LiveServer, http: Any) -> Scene:
    """Posts with everything a Status can show: media, a reply, mentions (known and
    not), a boost, favourites, follows, an unlisted and a private post."""
    alice = await user_token(server, "alice")
    bob = await user_token(server, "bob")
    await _remote_post(
        server,
        1,
        "a picture #tl",
        tags=["tl"],
        media=[MediaIn(url=f"{REMOTE}/pic.png", description="a cat", blurhash="LKO2?U%2Tw")],
        sensitive=True,
        spoiler_text="cats",
    )
    await _remote_post(server, 2, "words only #tl #other", tags=["tl", "other"], language="de")
    lookup = await http.get("/api/v1/accounts/lookup", params={"acct": "carol@remote.example"})
    carol_id = lookup.json()["id"]
    found = (await http.get("/api/v1/timelines/tag/tl")).json()
    remote, with_media = found[0]["id"], found[1]["id"]
    mention = await _post(http, alice, "hello @bob and @nobody@nowhere.example #tl")
    reply = await _post(http, bob, "nice one #tl #other", in_reply_to_id=with_media)
    private = await _post(http, alice, "followers only #tl", visibility="private")
    unlisted = await _post(http, alice, "quietly #tl", visibility="unlisted")
    faved = await http.post(f"/api/v1/statuses/{mention}/favourite", headers=bearer(bob))
    assert faved.status_code == 200
    boost = await http.post(f"/api/v1/statuses/{with_media}/reblog", headers=bearer(alice))
    assert boost.status_code == 200
    followed = await http.post(f"/api/v1/accounts/{carol_id}/follow", headers=bearer(alice))
    assert followed.status_code == 200
    return Scene(
        alice,
        bob,
        carol_id,
        [reply, mention, remote, with_media],
        with_media,
        remote,
        unlisted,
        private,
        boost.json()["id"],
    )


async def _ids(http: Any, path: str, **params: Any) -> list[str]:
    response = await http.get(path, params=params)
    assert response.status_code == 200, response.text
    return [s["id"] for s in response.json()]


async def _same_as_single_statuses(http: Any, path: str, token: str | None) -> int:
    """Every status of the page equals ``GET /api/v1/statuses/:id`` for the same viewer."""
    headers = bearer(token) if token else {}
    page = await http.get(path, params={"limit": 40}, headers=headers)
    assert page.status_code == 200, page.text
    for status in page.json():
        single = await http.get(f"/api/v1/statuses/{status['id']}", headers=headers)
        assert single.json() == status, (path, status["id"])
    return len(page.json())


async def test_timeline_statuses_are_the_single_status_json(server: LiveServer, http: Any) -> None:
    scene = await _scene(server, http)
    me = await http.get("/api/v1/accounts/verify_credentials", headers=bearer(scene.alice))
    alice_id = me.json()["id"]
    shown = {
        "/api/v1/timelines/tag/tl": [None, scene.alice, scene.bob],
        "/api/v1/timelines/public": [None, scene.bob],
        "/api/v1/timelines/home": [scene.alice, scene.bob],
        f"/api/v1/accounts/{alice_id}/statuses": [None, scene.alice, scene.bob],
        f"/api/v1/accounts/{scene.carol_id}/statuses": [None],
    }
    for path, viewers in shown.items():
        for viewer in viewers:
            assert await _same_as_single_statuses(http, path, viewer) > 0, (path, viewer)

    # What those pages show, spelled out once.
    page = (await http.get("/api/v1/timelines/tag/tl", headers=bearer(scene.bob))).json()
    assert [s["id"] for s in page] == scene.tagged
    reply, mention, remote, pictured = page
    assert reply["in_reply_to_id"] == scene.with_media
    assert reply["in_reply_to_account_id"] == scene.carol_id
    assert [m["acct"] for m in mention["mentions"]] == ["bob"]
    assert (mention["favourites_count"], mention["favourited"]) == (1, True)
    assert (pictured["reblogs_count"], pictured["replies_count"]) == (1, 1)
    assert pictured["media_attachments"][0]["remote_url"] == f"{REMOTE}/pic.png"
    assert pictured["sensitive"] is True and pictured["spoiler_text"] == "cats"
    carol = pictured["account"]
    assert (carol["acct"], carol["followers_count"], carol["statuses_count"]) == (
        "carol@remote.example",
        1,
        2,
    )
    assert carol["note"] == "<p>plain note</p><p>second paragraph</p>"
    assert remote["language"] == "de" and remote["url"] == f"{REMOTE}/@carol/2"
    home = (await http.get("/api/v1/timelines/home", headers=bearer(scene.alice))).json()
    boost = next(s for s in home if s["id"] == scene.boost)
    assert boost["reblog"]["id"] == scene.with_media and boost["content"] == ""


async def test_filters_and_paging_select_as_before(server: LiveServer, http: Any) -> None:
    scene = await _scene(server, http)
    tag = "/api/v1/timelines/tag/tl"
    reply, mention, remote, pictured = scene.tagged
    assert await _ids(http, tag, **{"none[]": "other"}) == [mention, pictured]
    assert await _ids(http, tag, **{"all[]": "other"}) == [reply, remote]
    assert await _ids(http, "/api/v1/timelines/tag/other", **{"any[]": "tl"}) == scene.tagged
    assert await _ids(http, tag, local="true") == [reply, mention]
    assert await _ids(http, tag, remote="true") == [remote, pictured]
    assert await _ids(http, tag, local="true", remote="true") == scene.tagged
    assert await _ids(http, tag, only_media="true") == [pictured]
    assert await _ids(http, "/api/v1/timelines/tag/TL") == scene.tagged
    assert await _ids(http, "/api/v1/timelines/public", remote="true") == [remote, pictured]

    # Page by page along the Link header, and back up from the oldest with min_id.
    seen: list[str] = []
    url: str | None = f"{tag}?limit=1&none[]=nothing"
    while url:
        response = await http.get(url)
        seen += [s["id"] for s in response.json()]
        links = response.headers.get("link", "")
        url = links.split(">")[0].lstrip("<") if 'rel="next"' in links else None
        assert url is None or "none%5B%5D=nothing" in url
    assert seen == scene.tagged
    assert await _ids(http, tag, min_id=pictured, limit=2) == [mention, remote]
    assert await _ids(http, tag, since_id=pictured, limit=2) == [reply, mention]
    assert await _ids(http, tag, max_id=mention, since_id=pictured) == [remote]

    # An author's listing: what this viewer may see, with its filters.
    alice = (await http.get("/api/v1/accounts/lookup", params={"acct": "alice"})).json()["id"]
    statuses = f"/api/v1/accounts/{alice}/statuses"
    assert await _ids(http, statuses) == [scene.boost, scene.alice_unlisted, mention]
    assert await _ids(http, statuses, exclude_reblogs="true") == [scene.alice_unlisted, mention]
    assert await _ids(http, statuses, tagged="tl") == [mention]  # tags index public posts
    mine = await http.get(statuses, headers=bearer(scene.alice))
    assert [s["id"] for s in mine.json()] == [
        scene.boost,
        scene.alice_unlisted,
        scene.alice_private,
        mention,
    ]


async def test_counters_are_fresh_on_every_page(server: LiveServer, http: Any) -> None:
    scene = await _scene(server, http)
    tag = "/api/v1/timelines/tag/tl"
    before = {s["id"]: s for s in (await http.get(tag)).json()}
    assert before[scene.remote]["favourites_count"] == 0
    assert before[scene.remote]["account"]["followers_count"] == 1
    await http.post(f"/api/v1/statuses/{scene.remote}/favourite", headers=bearer(scene.bob))
    await http.post(f"/api/v1/accounts/{scene.carol_id}/follow", headers=bearer(scene.bob))
    await _remote_post(server, 3, "one more #tl", tags=["tl"])
    after = {s["id"]: s for s in (await http.get(tag)).json()}
    assert after[scene.remote]["favourites_count"] == 1
    carol = after[scene.remote]["account"]
    assert (carol["followers_count"], carol["statuses_count"]) == (2, 3)
    # Every status of the author shows the same, current account.
    assert after[scene.with_media]["account"] == carol


async def test_served_ahead_of_routing_as_the_routes_serve_them(
    server: LiveServer, http: Any
) -> None:
    """The timelines are answered ahead of the app's routing (``http.hot_read``), but
    not a request with cookies (the session middleware must see it): both the same."""
    scene = await _scene(server, http)
    for path in ("/api/v1/timelines/tag/tl", "/api/v1/timelines/public"):
        for headers in ({}, bearer(scene.bob)):
            hot = await http.get(path, params={"limit": 2}, headers=headers)
            routed = await http.get(
                path, params={"limit": 2}, headers={**headers, "Cookie": "theme=dark"}
            )
            assert hot.status_code == routed.status_code == 200
            assert hot.json() == routed.json() and len(hot.json()) == 2
            assert hot.headers["link"] == routed.headers["link"]
            assert hot.headers["access-control-allow-origin"] == "*"
    # Refusals keep Mastodon's shape whichever way they go; a NUL is refused first.
    refused = await http.get("/api/v1/timelines/tag/tl", params={"max_id": "x"})
    assert (refused.status_code, set(refused.json())) == (422, {"error"})
    nul = await http.get("/api/v1/timelines/tag/tl?none[]=a%00b")
    assert nul.status_code == 400 and "NUL" in nul.json()["error"]
    assert (await http.head("/api/v1/timelines/public")).status_code == 405
