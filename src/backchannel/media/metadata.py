"""Taking the metadata out of an uploaded photo: where it was taken stays private.

A phone's JPEG carries Exif (GPS position, time, camera serial), often XMP and IPTC
too. Mastodon removes them from uploads, and people rely on it. Here the segments are
dropped without decoding the picture: Exif, XMP and IPTC (``APP1``, ``APP13``) and
comments go; colour profiles (``APP2``), JFIF and Adobe's colour transform stay. The
one Exif value that changes how the photo looks, its orientation, is written back in
a minimal Exif of its own.

Only JPEG is rewritten (it is what cameras write); other images are kept as sent.
"""

from __future__ import annotations

from backchannel.media import jpeg
from backchannel.media.sniff import sniff

_DROPPED = frozenset({jpeg.APP1, jpeg.APP13, jpeg.COM})


def orientation_segment(orientation: int) -> bytes:
    """An ``APP1`` Exif segment holding nothing but ``orientation`` (big-endian TIFF)."""
    entry = (
        (0x0112).to_bytes(2, "big")  # tag: Orientation
        + (3).to_bytes(2, "big")  # type: SHORT
        + (1).to_bytes(4, "big")  # count
        + orientation.to_bytes(2, "big")
        + b"\x00\x00"
    )
    tiff = b"MM\x00*" + (8).to_bytes(4, "big") + (1).to_bytes(2, "big") + entry + bytes(4)
    body = jpeg.EXIF + tiff
    return b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body


def without_metadata(data: bytes) -> bytes:
    """``data`` without its metadata if it is a JPEG this reads to its scan; otherwise
    (another format, or a JPEG it does not understand) ``data`` unchanged."""
    if sniff(data) != "image/jpeg":
        return data
    kept: list[bytes] = []
    orientation: int | None = None
    rest = b""
    try:
        for segment in jpeg.segments(data):
            if segment.marker in (jpeg.SOS, jpeg.EOI):
                rest = data[segment.start :]  # the picture (or the end): kept as it is
                break
            if segment.end > len(data):
                return data  # cut short: not a file this rewrites
            orientation = jpeg.orientation_of(data, segment) or orientation
            if segment.marker not in _DROPPED:
                kept.append(data[segment.start : segment.end])
    except jpeg.Malformed:
        return data
    if orientation is not None and orientation != 1:
        # After JFIF's APP0, which must come first when there is one.
        at = 1 if kept and kept[0][1] == jpeg.APP0 else 0
        kept.insert(at, orientation_segment(orientation))
    return data[:2] + b"".join(kept) + rest
