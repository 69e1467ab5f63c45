"""``GET /media/SIGNATURE/ENCODED``: a remote image, through this server.

Errors use the project's ``{"error": …}`` shape: 404 for a URL this server did not
sign, 403 for an address it does not fetch, 502 when the remote image cannot be had.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from backchannel.deps import Services, ServicesDep
from backchannel.errors import AppError, NotFound, error_body
from backchannel.media import links
from backchannel.media.cache import MediaCache
from backchannel.media.service import MediaProxy

router = APIRouter(tags=["media"])

#: The path names the remote URL, and an image found once is kept: cache it for good.
IMMUTABLE = "public, max-age=31536000, immutable"
#: An image opened directly is a document of this origin: let it do nothing.
IMAGE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
#: What every image this site serves carries, proxied or uploaded here.
IMAGE_HEADERS = {
    "Cache-Control": IMMUTABLE,
    "Content-Security-Policy": IMAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Content-Disposition": "inline",
}
ERROR_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def media_proxy(services: Services) -> MediaProxy:
    """The app's proxy, made on first use (its cache indexes the disk on first use)."""
    proxy = services.extra.get("media")
    if proxy is None:
        settings = services.settings
        cache = MediaCache(settings.data_dir / "media", settings.media_cache_bytes)
        proxy = services.extra["media"] = MediaProxy(
            services.extra["http"], cache, max_bytes=settings.media_max_bytes
        )
    assert isinstance(proxy, MediaProxy)
    return proxy


def _error(exc: AppError) -> JSONResponse:
    return JSONResponse(error_body(exc.message), exc.status, headers=ERROR_HEADERS)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or "*" in tags


@router.api_route("/media/{signature}/{encoded}", methods=["GET", "HEAD"])
async def proxied_image(
    signature: str, encoded: str, request: Request, services: ServicesDep
) -> Response:
    """A remote image this server signed the URL of, from its cache or fetched now."""
    url = links.for_settings(services.settings).verify(signature, encoded)
    if url is None:
        return _error(NotFound("no such image: the link is not one this server made"))
    try:
        image = await media_proxy(services).image(url)
    except AppError as exc:
        return _error(exc)
    headers = {**IMAGE_HEADERS, "ETag": image.etag}
    if _matches(request.headers.get("if-none-match"), image.etag):
        return Response(status_code=304, headers=headers)
    return Response(image.data, media_type=image.content_type, headers=headers)
