"""Only raster images pass: known by their bytes, SVG and HTML never."""

from __future__ import annotations

import pytest

from backchannel.media.sniff import declared_type, sniff
from support_media import GIF, HTML, SVG, TINY_JPEG, png


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00" * 32


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (TINY_JPEG, "image/jpeg"),
        (png(), "image/png"),
        (GIF, "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 24, "image/webp"),
        (_ftyp(b"avif", b"mif1", b"miaf"), "image/avif"),
        (_ftyp(b"mif1", b"avif"), "image/avif"),  # AVIF as a compatible brand
        (_ftyp(b"heic", b"mif1"), None),  # same container, not AVIF
        (_ftyp(b"isom", b"mp42"), None),  # an MP4 video
        (SVG, None),
        (b"<?xml version='1.0'?>" + SVG, None),
        (HTML, None),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"", None),
        (b"\xff\xd8", None),
    ],
)
def test_sniff(data: bytes, expected: str | None) -> None:
    assert sniff(data) == expected


def test_declared_type_drops_parameters_and_case() -> None:
    assert declared_type("Image/PNG; charset=binary") == "image/png"
    assert declared_type(None) == ""
