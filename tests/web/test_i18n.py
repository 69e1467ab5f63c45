"""Which language a request gets, and the German catalog in a template."""

from __future__ import annotations

from starlette.requests import Request

from backchannel.web.i18n import choose_locale
from backchannel.web.templating import environment, translate


def _request(query: str = "", cookie: str = "", accept: str = "") -> Request:
    headers = []
    if cookie:
        headers.append((b"cookie", f"lang={cookie}".encode()))
    if accept:
        headers.append((b"accept-language", accept.encode()))
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "query_string": query.encode(),
        "headers": headers,
    }
    return Request(scope)


def test_the_switch_beats_the_cookie_beats_the_event_beats_the_browser() -> None:
    assert choose_locale(_request("lang=de", cookie="en"), ["en"]) == "de"
    assert choose_locale(_request(cookie="de"), ["en"]) == "de"
    assert choose_locale(_request(accept="en-GB"), ["fr", "de"]) == "de"
    assert choose_locale(_request(accept="fr, de-AT;q=0.8, en;q=0.5")) == "de"
    assert choose_locale(_request("lang=xx", accept="klingon")) == "en"


def test_german_strings_and_dates() -> None:
    assert translate("de", "Content warning") == "Inhaltswarnung"
    assert translate("en", "Content warning") == "Content warning"
    template = environment("de").from_string("{{ _('Schedule') }} {{ when|day('Europe/Berlin') }}")
    from datetime import UTC, datetime

    assert template.render(when=datetime(2026, 5, 14, 22, 30, tzinfo=UTC)) == (
        "Programm Freitag, 15. Mai 2026"
    )
