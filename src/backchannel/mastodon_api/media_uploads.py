"""Reading an image upload: a multipart ``file`` within the size limit, known by its bytes.

The body is streamed, never held whole: the multipart parser spools the file to a
temporary file past 1 MiB, a body larger than the limit (plus room for the other
fields) is refused as soon as it grows past it, and only the file, at most the limit,
is read into memory. What the client says the file is counts for nothing: ``sniff``
decides, and admits JPEG, PNG, GIF, WebP and AVIF only (SVG can carry script). A JPEG
is kept without its Exif, XMP and IPTC metadata (``media.metadata``): no GPS position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.types import Message, Receive

from backchannel.errors import Unprocessable
from backchannel.media.dimensions import image_size
from backchannel.media.metadata import without_metadata
from backchannel.media.sniff import declared_type, sniff

#: The upload endpoints: ``kit.body_limit`` leaves their bodies to ``read_upload``.
UPLOAD_PATHS = ("/api/v1/media", "/api/v2/media")
#: Mastodon's limit for alt text.
MAX_DESCRIPTION = 1500
#: Room in the body besides the file: boundaries, part headers, the description (1,500
#: characters of up to 4 bytes), the focus.
FORM_ROOM = 64 * 1024
#: File name extensions of the admitted types (in the file's URL: some apps look there).
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/avif": "avif",
}
NOT_AN_IMAGE = (
    "Validation failed: File is not an image this server accepts: upload a JPEG, PNG,"
    " GIF, WebP or AVIF image"
)
SVG_REFUSED = (
    "Validation failed: SVG images are not accepted (they can carry script): upload a"
    " JPEG, PNG, GIF, WebP or AVIF image"
)


@dataclass(frozen=True, slots=True)
class Upload:
    data: bytes
    content_type: str
    width: int | None
    height: int | None
    description: str
    focus: tuple[float, float] | None


class _BodyTooLarge(Exception):
    """Raised inside the parser's reads: the body outgrew the limit."""


def _readable(max_bytes: int) -> str:
    mib = max_bytes / (1024 * 1024)
    return f"{mib:g} MiB" if mib >= 1 and mib == round(mib, 2) else f"{max_bytes} bytes"


def too_large(max_bytes: int) -> Unprocessable:
    return Unprocessable(
        f"Validation failed: File is too large: images may be at most {_readable(max_bytes)}"
    )


def description_of(value: str | None) -> str:
    """Alt text as given (plain text), checked: at most 1,500 characters, no NUL."""
    text = (value or "").strip()
    if "\x00" in text:
        raise Unprocessable("Validation failed: Description contains a NUL character")
    if len(text) > MAX_DESCRIPTION:
        raise Unprocessable(
            f"Validation failed: Description is too long (maximum is {MAX_DESCRIPTION} characters)"
        )
    return text


def focus_of(value: str | None) -> tuple[float, float] | None:
    """``"x,y"`` with each in [-1, 1] (Mastodon's focal point); ``None`` for none."""
    text = (value or "").strip()
    if not text:
        return None
    parts = text.split(",")
    try:
        x, y = (float(part) for part in parts)
    except ValueError:
        x = y = math.nan
    if not all(math.isfinite(v) and -1.0 <= v <= 1.0 for v in (x, y)):
        raise Unprocessable(
            f"Validation failed: focus '{text[:40]}' is not two numbers between -1.0 and"
            " 1.0 as 'x,y'"
        )
    return x, y


def _looks_like_svg(data: bytes) -> bool:
    head = data[:4096].lower()
    return b"<svg" in head or head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<?xml")


def image_of(data: bytes, max_bytes: int) -> tuple[str, int | None, int | None]:
    """The content type and shown size of an uploaded file; 422 if it is no image."""
    if not data:
        raise Unprocessable("Validation failed: File is empty")
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    content_type = sniff(data)
    if content_type is None:
        raise Unprocessable(SVG_REFUSED if _looks_like_svg(data) else NOT_AN_IMAGE)
    size = image_size(data)
    width, height = size if size is not None else (None, None)
    return content_type, width, height


def _counting(receive: Receive, ceiling: int) -> Receive:
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > ceiling:
                raise _BodyTooLarge
        return message

    return counted


def _field(form: FormData, request: Request, name: str) -> str | None:
    value = form.get(name)
    if isinstance(value, str):
        return value
    # Mastodon takes the parameters from the query too.
    return request.query_params.get(name)


async def read_upload(request: Request, max_bytes: int) -> Upload:
    """The image in ``request``'s multipart ``file`` part, with its description and focus."""
    ceiling = max_bytes + FORM_ROOM
    declared = (request.headers.get("content-length") or "").strip()
    if declared.isdigit() and int(declared) > ceiling:
        raise too_large(max_bytes)
    if declared_type(request.headers.get("content-type")) != "multipart/form-data":
        raise Unprocessable(
            "Validation failed: send the image as multipart/form-data, in a part named 'file'"
        )
    streamed = Request(request.scope, _counting(request.receive, ceiling))
    try:
        # A thumbnail part (apps send one for videos) is allowed and ignored.
        form = await streamed.form(max_files=2, max_fields=16, max_part_size=FORM_ROOM)
    except _BodyTooLarge:
        raise too_large(max_bytes) from None
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise Unprocessable("Validation failed: File can't be blank (send a part named 'file')")
        description = description_of(_field(form, request, "description"))
        focus = focus_of(_field(form, request, "focus"))
        data = await file.read(max_bytes + 1)
    finally:
        await form.close()
    content_type, width, height = image_of(data, max_bytes)
    return Upload(without_metadata(data), content_type, width, height, description, focus)
