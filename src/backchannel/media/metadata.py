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

from backchannel.media.dimensions import exif_orientation
from backchannel.media.sniff import sniff

_APP0, _APP1, _APP13, _COM = 0xE0, 0xE1, 0xED, 0xFE
_DROPPED = frozenset({_APP1, _APP13, _COM})
#: Markers without a length: TEM, RST0-7.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_EXIF = b"Exif\x00\x00"


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
    body = _EXIF + tiff
    return b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body


def without_metadata(data: bytes) -> bytes:
    """``data`` without its metadata if it is a JPEG this reads to its scan; otherwise
    (another format, or a JPEG it does not understand) ``data`` unchanged."""
    if sniff(data) != "image/jpeg":
        return data
    kept: list[bytes] = []
    orientation: int | None = None
    i = 2
    while True:
        if i + 4 > len(data) or data[i] != 0xFF:
            return data
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker in _STANDALONE:
            kept.append(data[i : i + 2])
            i += 2
            continue
        if marker in (0xDA, 0xD9):  # the scan (or the end): the rest is kept as it is
            rest = data[i:]
            break
        end = i + 2 + int.from_bytes(data[i + 2 : i + 4], "big")
        if end > len(data) or end < i + 4:
            return data
        segment = data[i:end]
        if marker == _APP1 and segment[4:10] == _EXIF:
            orientation = exif_orientation(segment[10:]) or orientation
        if marker not in _DROPPED:
            kept.append(segment)
        i = end
    if orientation is not None and orientation != 1:
        # After JFIF's APP0, which must come first when there is one.
        at = 1 if kept and kept[0][1] == _APP0 else 0
        kept.insert(at, orientation_segment(orientation))
    return data[:2] + b"".join(kept) + rest
