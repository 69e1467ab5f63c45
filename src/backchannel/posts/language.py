"""Guessing the language of a post with py3langid.

The model (about 0.8 s to load) is loaded on first use, never at import time; call
:func:`warm_up` at startup to pay that cost before the first post arrives.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Protocol, cast

from backchannel.posts.hashtags import find_entities

__all__ = ["MIN_CONFIDENCE", "MIN_LETTERS", "detect_language", "warm_up"]

MIN_LETTERS = 20
MIN_CONFIDENCE = 0.5
# Longer texts add cost without changing the answer.
_MAX_CHARS = 1000

# Labels of the model that are regional or script variants of an ISO 639-1 language.
_ALIASES = {"arz": "ar", "ary": "ar", "yue": "zh", "wuu": "zh", "uzs": "uz", "gug": "gn"}

_load_lock = threading.Lock()


class _Identifier(Protocol):
    def classify(self, text: str) -> tuple[str, float]: ...


@cache
def _identifier() -> _Identifier:
    with _load_lock:
        import numpy as np
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        shipped = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        # The model ships in float16, which numpy multiplies without BLAS: 11 us of
        # a 35 us call. The same weights in float32 (28 MB more) give the same answers
        # (checked on our fixtures' posts: labels and confidences equal) in a third
        # less time; ingest calls this for nearly every post.
        return cast(
            _Identifier,
            LanguageIdentifier(
                np.asarray(shipped.nb_ptc, dtype=np.float32),
                shipped.nb_pc,
                shipped.nb_classes,
                shipped.tk_nextmove,
                shipped.tk_output,
                norm_probs=True,
                tk_row=shipped.tk_row,
            ),
        )


def warm_up() -> None:
    """Load the language model now rather than on the first call."""
    _identifier()


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


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the language ``text`` is written in, or ``None`` if unsure.

    Links, mentions and hashtags are ignored. ``None`` when fewer than 20 letters are
    left, when the model's normalised probability is below 0.5, or when its answer
    has no ISO 639-1 code (such as ``zxx``, "no linguistic content").
    """
    prose = _prose(text[:_MAX_CHARS])
    if not _has_enough_letters(prose):
        return None
    label, confidence = _identifier().classify(prose)
    if confidence < MIN_CONFIDENCE:
        return None
    code = _ALIASES.get(label, label)
    return code if len(code) == 2 and code.isascii() and code.isalpha() else None
