"""Static files (CSS, JS, images) from the package, with cache-busting URLs.

Served by a plain route rather than a mount, so they travel with the web router and
get the same security headers as the pages.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from backchannel.errors import NotFound
from backchannel.web.security import SECURITY_HEADERS

STATIC_DIR = Path(__file__).parent / "static"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,80}\.(css|js|svg|png|ico)$")
_TYPES = {
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "svg": "image/svg+xml",
    "png": "image/png",
    "ico": "image/x-icon",
}

router = APIRouter(include_in_schema=False)


@cache
def _load(name: str) -> tuple[bytes, str] | None:
    if not _NAME.fullmatch(name) or ".." in name:
        return None
    path = STATIC_DIR / name
    if not path.is_file():
        return None
    body = path.read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:12]


def static_url(name: str) -> str:
    """``/static/NAME?v=HASH``: a new version of a file gets a new URL."""
    loaded = _load(name)
    version = loaded[1] if loaded else "0"
    return f"/static/{name}?v={version}"


@router.get("/static/{name}")
async def static_file(name: str, request: Request) -> Response:
    """A versioned URL (``?v=HASH``) is cached for good; others are revalidated, since
    scripts import each other by plain name."""
    loaded = _load(name)
    if loaded is None:
        raise NotFound(f"no static file '{name}'")
    body, version = loaded
    etag = f'"{version}"'
    immutable = request.query_params.get("v") == version
    headers = {
        **SECURITY_HEADERS,
        "Cache-Control": "public, max-age=31536000, immutable" if immutable else "no-cache",
        "ETag": etag,
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=_TYPES[name.rsplit(".", 1)[1]], headers=headers)
