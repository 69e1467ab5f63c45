"""Width and height of an image, read from its header bytes (no decoder needed).

For the formats ``sniff`` admits: JPEG (the first frame header, turned by its Exif
orientation, as browsers show it), PNG, GIF (the logical screen), WebP (lossy,
lossless and extended) and AVIF (the first ``ispe`` property). ``None`` when the
header cannot be read: a truncated or unusual file is still an image, only its size
is unknown.
"""

from __future__ import annotations

from backchannel.media import jpeg
from backchannel.media.sniff import sniff

#: JPEG start-of-frame markers: every SOFn but DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: Exif orientations that turn the picture by 90 degrees: width and height swap.
_TURNED = frozenset({5, 6, 7, 8})

Size = tuple[int, int]


def image_size(data: bytes) -> Size | None:
    """``(width, height)`` of the image in ``data`` as it is shown, or ``None``."""
    kind = sniff(data)
    if kind == "image/png":
        size = _png(data)
    elif kind == "image/gif":
        size = _gif(data)
    elif kind == "image/webp":
        size = _webp(data)
    elif kind == "image/jpeg":
        size = _jpeg(data)
    elif kind == "image/avif":
        size = _avif(data)
    else:
        return None
    if size is None or size[0] <= 0 or size[1] <= 0:
        return None
    return size


def _png(data: bytes) -> Size | None:
    if data[12:16] != b"IHDR" or len(data) < 24:
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _gif(data: bytes) -> Size | None:
    if len(data) < 10:
        return None
    return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")


def _webp(data: bytes) -> Size | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a" and len(data) >= 30:
        width = int.from_bytes(data[26:28], "little") & 0x3FFF
        height = int.from_bytes(data[28:30], "little") & 0x3FFF
        return width, height
    if chunk == b"VP8L" and data[20:21] == b"\x2f" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _jpeg(data: bytes) -> Size | None:
    orientation = 1
    try:
        for segment in jpeg.segments(data):
            if segment.marker in (jpeg.SOS, jpeg.EOI):
                return None  # no frame header came
            body = data[segment.body]
            if segment.marker in _SOF and len(body) >= 5:
                height = int.from_bytes(body[1:3], "big")
                width = int.from_bytes(body[3:5], "big")
                return (height, width) if orientation in _TURNED else (width, height)
            orientation = jpeg.orientation_of(data, segment) or orientation
    except jpeg.Malformed:
        return None
    return None


def _boxes(data: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """ISO-BMFF boxes between ``start`` and ``end``: ``{type: (body start, body end)}``
    (the first of each type)."""
    found: dict[bytes, tuple[int, int]] = {}
    i = start
    while i + 8 <= end:
        size = int.from_bytes(data[i : i + 4], "big")
        kind = data[i + 4 : i + 8]
        body = i + 8
        if size == 1:
            if i + 16 > end:
                break
            size = int.from_bytes(data[i + 8 : i + 16], "big")
            body = i + 16
        elif size == 0:
            size = end - i
        if size < body - i or i + size > end:
            break
        found.setdefault(kind, (body, i + size))
        i += size
    return found


def _avif(data: bytes) -> Size | None:
    meta = _boxes(data, 0, len(data)).get(b"meta")
    if meta is None:
        return None
    # ``meta`` and ``ispe`` are full boxes: four bytes of version and flags first.
    iprp = _boxes(data, meta[0] + 4, meta[1]).get(b"iprp")
    ipco = _boxes(data, *iprp).get(b"ipco") if iprp else None
    ispe = _boxes(data, *ipco).get(b"ispe") if ipco else None
    if ispe is None or ispe[1] - ispe[0] < 12:
        return None
    at = ispe[0] + 4
    return int.from_bytes(data[at : at + 4], "big"), int.from_bytes(data[at + 4 : at + 8], "big")
