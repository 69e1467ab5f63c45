"""Image sizes from header bytes, for what real encoders write; and photos lose their
metadata (GPS) but keep their orientation."""

from __future__ import annotations

from backchannel.media.dimensions import image_size
from backchannel.media.metadata import orientation_segment, without_metadata
from support_media import GIF, SVG, TINY_JPEG, png

# Made from ``png(13, 7)`` with Debian's ``cwebp`` (lossy, and ``-lossless``) and
# ``avifenc``: what the encoders people use write, 13×7 pixels.
WEBP_LOSSY = bytes.fromhex(
    "524946463a00000057454250565038202e000000f001009d012a0d00070002003425a00274ba01f800052100"
    "00fe9717ff20b96175c8d7feb80fce03f380fe560000"
)
WEBP_LOSSLESS = bytes.fromhex(
    "524946461e000000574542505650384c110000002f0c80010007d0ab92d7a5ff8188e87f0000"
)
AVIF = bytes.fromhex(
    "00000020667479706176696600000000617669666d6966316d6961664d413141000000f26d65746100000000"
    "0000002868646c720000000000000000706963740000000000000000000000006c696261766966000000000e"
    "7069746d0000000000010000001e696c6f6300000000440000010001000000010000011a0000001e00000028"
    "69696e660000000000010000001a696e6665020000000001000061763031436f6c6f72000000006a69707270"
    "0000004b6970636f0000001469737065000000000000000d00000007000000107069786900000000030808"
    "080000000c617631438120000000000013636f6c726e636c780001000d0006800000001769706d6100000000"
    "0000000100010401028304000000266d64617412000a08380cb330808683483210164006186184000094e014"
    "3913433270"
)
#: VP8X as Chromium's ``canvas.toDataURL("image/webp")`` writes it: only the header.
WEBP_EXTENDED = (
    b"RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x10\x00\x00\x00\x0c\x00\x00\x06\x00\x00"
)


def _exif(orientation: int, *, extra: bytes = b"") -> bytes:
    """An Exif APP1 segment with an orientation, and ``extra`` bytes riding along
    (where a camera puts its GPS position)."""
    segment = orientation_segment(orientation)
    body = segment[4:] + extra
    return b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body


def _with_segments(jpeg: bytes, *segments: bytes) -> bytes:
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def test_sizes_of_every_admitted_format() -> None:
    assert image_size(png(12, 8)) == (12, 8)
    assert image_size(GIF) == (1, 1)
    assert image_size(TINY_JPEG) == (8, 6)
    assert image_size(WEBP_LOSSY) == (13, 7)
    assert image_size(WEBP_LOSSLESS) == (13, 7)
    assert image_size(WEBP_EXTENDED) == (13, 7)
    assert image_size(AVIF) == (13, 7)


def test_what_cannot_be_read_has_no_size() -> None:
    assert image_size(SVG) is None
    assert image_size(TINY_JPEG[:20]) is None
    assert image_size(png()[:20]) is None
    assert image_size(b"RIFF\x00\x00\x00\x00WEBPVP8 ") is None


def test_a_turned_photo_is_as_wide_as_it_is_shown() -> None:
    assert image_size(_with_segments(TINY_JPEG, _exif(6))) == (6, 8)
    assert image_size(_with_segments(TINY_JPEG, _exif(3))) == (8, 6)


def test_a_photo_loses_its_metadata_but_not_its_orientation() -> None:
    gps = b"GPS 52.5200 N 13.4050 E"
    photo = _with_segments(TINY_JPEG, _exif(6, extra=gps), b"\xff\xfe\x00\x09comment")
    cleaned = without_metadata(photo)
    assert gps not in cleaned and b"comment" not in cleaned
    assert image_size(cleaned) == (6, 8)
    assert cleaned.endswith(TINY_JPEG[TINY_JPEG.index(b"\xff\xda") :])  # the picture itself
    assert b"ICC_PROFILE" in cleaned  # colours stay
    # Nothing to take out: the same bytes.
    assert without_metadata(TINY_JPEG) == TINY_JPEG
    assert without_metadata(png()) == png()
    # A JPEG it cannot follow to its scan is left alone rather than broken.
    assert without_metadata(photo[:40]) == photo[:40]
