"""English and German: the catalogs, and which language a request gets.

The catalogs are compiled ``.mo`` files committed next to their ``.po`` sources
(``pybabel compile -d src/backchannel/web/locales``): nothing is compiled at run
time, and a test checks that every ``.mo`` matches its ``.po``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations
from starlette.requests import Request

LOCALES_DIR = Path(__file__).parent / "locales"
SUPPORTED = ("en", "de")
DEFAULT = "en"
COOKIE = "lang"
#: What the language switch shows, in each language's own name.
NAMES = {"en": "English", "de": "Deutsch"}


@cache
def translations(locale: str) -> NullTranslations:
    """The catalog of ``locale``; English is the source language and needs none."""
    if locale == DEFAULT:
        return NullTranslations()
    return Translations.load(str(LOCALES_DIR), [locale], domain="messages")


def _supported(value: str | None) -> str | None:
    if not value:
        return None
    code = value.strip().lower().replace("_", "-").split("-")[0]
    return code if code in SUPPORTED else None


def _from_accept_language(header: str) -> str | None:
    weighted: list[tuple[float, str]] = []
    for part in header.split(",")[:20]:
        lang, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        code = _supported(lang)
        if code and quality > 0:
            weighted.append((quality, code))
    return max(weighted, key=lambda item: item[0])[1] if weighted else None


def choose_locale(request: Request, event_languages: Iterable[str] = ()) -> str:
    """``?lang=`` first (the switch), then the ``lang`` cookie it set, then the event's
    language, then the browser's, then English."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(COOKIE)):
        code = _supported(candidate)
        if code:
            return code
    for language in event_languages:
        code = _supported(language)
        if code:
            return code
    return _from_accept_language(request.headers.get("accept-language", "")) or DEFAULT


def N_(message: str) -> str:  # noqa: N802 - the conventional name extractors look for
    """Marks a message for extraction; it is translated later, where it is shown."""
    return message
