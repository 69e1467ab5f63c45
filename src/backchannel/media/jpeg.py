"""Walking a JPEG's header: its marker segments up to the picture data, and the Exif
orientation. What ``dimensions`` and ``metadata`` read, written once: both parse
bytes from strangers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, NamedTuple

APP0, APP1, APP13, COM = 0xE0, 0xE1, 0xED, 0xFE
#: Start of scan (the picture data follows) and end of image.
SOS, EOI = 0xDA, 0xD9
#: Markers without a length: TEM, SOI, RST0-7.
STANDALONE = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})
EXIF = b"Exif\x00\x00"


class Malformed(ValueError):
    """The header is not one this reads."""


class Segment(NamedTuple):
    marker: int
    #: Where its ``FF`` marker is.
    start: int
    #: Where the next one starts; past the data when the file is cut short. For
    #: ``SOS`` and ``EOI`` (the last segment given): the end of the data.
    end: int

    @property
    def body(self) -> slice:
        """Its bytes after the marker and the length."""
        return slice(self.start + 4, self.end)


def segments(data: bytes) -> Iterator[Segment]:
    """The segments after ``SOI``, in order, up to ``SOS`` or ``EOI`` (given last);
    raises ``Malformed`` where the header does not hold together."""
    i = 2
    while True:
        if i + 4 > len(data) or data[i] != 0xFF:
            raise Malformed(f"no marker at {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker in STANDALONE:
            yield Segment(marker, i, i + 2)
            i += 2
            continue
        if marker in (SOS, EOI):
            yield Segment(marker, i, len(data))
            return
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if length < 2:
            raise Malformed(f"a segment of length {length} at {i}")
        yield Segment(marker, i, i + 2 + length)
        i += 2 + length


def exif_orientation(tiff: bytes) -> int | None:
    """The orientation tag (0x0112) of IFD0 in an Exif TIFF block, if it has one."""
    order: Literal["little", "big"]
    if tiff[:4] == b"II*\x00":
        order = "little"
    elif tiff[:4] == b"MM\x00*":
        order = "big"
    else:
        return None

    def number(at: int, width: int) -> int:
        return int.from_bytes(tiff[at : at + width], order)

    ifd = number(4, 4)
    if ifd + 2 > len(tiff):
        return None
    for n in range(number(ifd, 2)):
        entry = ifd + 2 + 12 * n
        if entry + 12 > len(tiff):
            return None
        if number(entry, 2) == 0x0112:
            value = number(entry + 8, 2)
            return value if 1 <= value <= 8 else None
    return None


def orientation_of(data: bytes, segment: Segment) -> int | None:
    """The orientation an ``APP1`` Exif segment states, if it is one and states it."""
    body = data[segment.body]
    if segment.marker != APP1 or not body.startswith(EXIF):
        return None
    return exif_orientation(body[len(EXIF) :])
