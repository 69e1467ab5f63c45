"""Which images the proxy passes on: JPEG, PNG, GIF, WebP and AVIF, known by their
first bytes, never by what the remote server says alone.

SVG is refused: it is a document that can carry script, and served from this origin
it could run with the site's cookies if somebody opened it directly.
"""

from __future__ import annotations

#: What a remote server may declare (the ``Content-Type`` before any ``;``).
DECLARED_TYPES = frozenset(
    {
        "image/jpeg",
        "image/jpg",
        "image/pjpeg",
        "image/png",
        "image/apng",
        "image/gif",
        "image/webp",
        "image/avif",
    }
)

#: ISO-BMFF brands (the ``ftyp`` box) of AVIF still images and sequences.
_AVIF_BRANDS = frozenset({b"avif", b"avis"})


def declared_type(content_type: str | None) -> str:
    """The media type of a ``Content-Type`` header, lowercased, without parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _is_avif(data: bytes) -> bool:
    # An ISO-BMFF file opens with an ``ftyp`` box: size, "ftyp", major brand, minor
    # version, then compatible brands. HEIC shares the container, not the brands.
    if len(data) < 16 or data[4:8] != b"ftyp":
        return False
    size = min(int.from_bytes(data[:4], "big"), len(data), 256)
    brands = {data[8:12]} | {data[i : i + 4] for i in range(16, size - 3, 4)}
    return not _AVIF_BRANDS.isdisjoint(brands)


def sniff(data: bytes) -> str | None:
    """The image type ``data`` is, by its magic bytes; ``None`` for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if _is_avif(data):
        return "image/avif"
    return None
