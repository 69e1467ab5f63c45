"""``/api/v1/instance`` (with and without the trailing slash), ``/api/v2/instance``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from starlette.responses import Response

from backchannel import __version__
from backchannel.config import Settings
from backchannel.deps import ServicesDep, SessionDep
from backchannel.mastodon_api import repository as repo
from backchannel.mastodon_api.http import JSON
from backchannel.mastodon_api.media import MAX_ATTACHMENTS
from backchannel.mastodon_api.media_uploads import EXTENSIONS, MAX_DESCRIPTION
from backchannel.mastodon_api.statuses import MAX_CHARACTERS

router = APIRouter(tags=["mastodon"])

VERSION = f"4.3.0 (compatible; backchannel {__version__})"
TITLE = "backchannel"
DESCRIPTION = "One hashtag per event, and everything around it."
# A transparent 1×1 PNG: what accounts without an avatar or header point to.
_BLANK_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def streaming_url(settings: Settings) -> str:
    """``ws(s)://host[:port]``: the base URL's host, as Mastodon.py expects."""
    parts = urlsplit(settings.public_url())
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}"


def _configuration(settings: Settings) -> dict[str, Any]:
    return {
        "accounts": {"max_featured_tags": 0, "max_pinned_statuses": 0},
        "statuses": {
            "max_characters": MAX_CHARACTERS,
            "max_media_attachments": MAX_ATTACHMENTS,
            "characters_reserved_per_url": 23,
        },
        "media_attachments": {
            "supported_mime_types": list(EXTENSIONS),
            "description_limit": MAX_DESCRIPTION,
            "image_size_limit": settings.media_upload_max_bytes,
            # Mastodon's: not enforced here, but apps scale larger photos down to it.
            "image_matrix_limit": 33_177_600,
            "video_size_limit": 0,
            "video_frame_rate_limit": 0,
            "video_matrix_limit": 0,
        },
        "polls": {
            "max_options": 0,
            "max_characters_per_option": 0,
            "min_expiration": 0,
            "max_expiration": 0,
        },
    }


@router.get("/api/v1/instance")
@router.get("/api/v1/instance/", include_in_schema=False)
async def instance_v1(services: ServicesDep, session: SessionDep) -> JSON:
    settings = services.settings
    users, statuses, domains = await repo.instance_counts(session)
    host = urlsplit(settings.public_url()).netloc
    return JSON(
        {
            "uri": host,
            "title": TITLE,
            "short_description": DESCRIPTION,
            "description": DESCRIPTION,
            "email": "",
            "version": VERSION,
            "urls": {"streaming_api": streaming_url(settings)},
            "stats": {"user_count": users, "status_count": statuses, "domain_count": domains},
            "thumbnail": None,
            "languages": ["en", "de"],
            "registrations": False,
            "approval_required": True,
            "invites_enabled": False,
            "configuration": _configuration(services.settings),
            "contact_account": None,
            "rules": [],
        }
    )


@router.get("/api/v2/instance")
async def instance_v2(services: ServicesDep, session: SessionDep) -> JSON:
    settings = services.settings
    users, _, _ = await repo.instance_counts(session)
    public = {"local": "public", "remote": "public"}
    configuration = _configuration(settings)
    configuration["urls"] = {"streaming": streaming_url(settings), "status": None}
    configuration["translation"] = {"enabled": False}
    configuration["timelines_access"] = {
        "live_feeds": public,
        "hashtag_feeds": public,
        "trending_link_feeds": public,
    }
    return JSON(
        {
            "domain": urlsplit(settings.public_url()).netloc,
            "title": TITLE,
            "version": VERSION,
            "source_url": "https://github.com/backchannel/backchannel",
            "description": DESCRIPTION,
            "usage": {"users": {"active_month": users}},
            "thumbnail": {"url": f"{settings.public_url()}/headers/original/missing.png"},
            "icon": [],
            "languages": ["en", "de"],
            "configuration": configuration,
            "registrations": {"enabled": False, "approval_required": True, "message": None},
            "api_versions": {"mastodon": 2},
            "contact": {"email": "", "account": None},
            "rules": [],
        }
    )


@router.get("/api/v1/custom_emojis")
async def custom_emojis() -> JSON:
    return JSON([])


@router.get("/avatars/original/missing.png", include_in_schema=False)
@router.get("/headers/original/missing.png", include_in_schema=False)
async def blank_image() -> Response:
    return Response(
        _BLANK_PNG, media_type="image/png", headers={"Cache-Control": "public, max-age=86400"}
    )
