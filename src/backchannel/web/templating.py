"""Rendering pages: one Jinja2 environment per language, and the headers every page sends."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import segno
from babel.dates import format_date, format_datetime, format_time
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from backchannel.kit import csrf
from backchannel.kit.urls import safe_url
from backchannel.web import i18n
from backchannel.web.assets import static_url
from backchannel.web.security import SECURITY_HEADERS

#: A year: the ``lang`` cookie only remembers a choice made with the switch.
LANG_COOKIE_SECONDS = 365 * 24 * 3600


def qr_svg(url: str, *, label: str = "") -> Markup:
    """A QR code for ``url`` as inline SVG that scales with its box (dark on white)."""
    code = segno.make(url, error="m")
    svg: str = code.svg_inline(scale=1, border=2, omitsize=True, dark="#000", light="#fff")
    if label:
        svg = svg.replace("<svg ", f'<svg role="img" aria-label="{Markup.escape(label)}" ', 1)
    return Markup(svg)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@cache
def environment(locale: str) -> Environment:
    env = Environment(
        loader=PackageLoader("backchannel.web", "templates"),
        autoescape=select_autoescape(["html", "svg", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(  # type: ignore[attr-defined]
        i18n.translations(locale), newstyle=True
    )

    def when(value: datetime | None, tz: str = "UTC", fmt: str = "medium") -> str:
        if value is None:
            return ""
        return format_datetime(value, fmt, tzinfo=_zone(tz), locale=locale)

    def day(value: datetime | None, tz: str = "UTC", fmt: str = "full") -> str:
        if value is None:
            return ""
        return format_date(value.astimezone(_zone(tz)), fmt, locale=locale)

    def clock(value: datetime | None, tz: str = "UTC") -> str:
        if value is None:
            return ""
        return format_time(value, "short", tzinfo=_zone(tz), locale=locale)

    def paragraphs(text: str) -> list[str]:
        return [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]

    def iso_when(value: str | None, tz: str = "UTC") -> str:
        if not value:
            return ""
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return ""
        return format_datetime(parsed, "short", tzinfo=_zone(tz), locale=locale)

    env.filters.update(
        when=when,
        day=day,
        clock=clock,
        paragraphs=paragraphs,
        iso_when=iso_when,
        safe_src=safe_url,
    )
    env.globals.update(static=static_url, qr_svg=qr_svg, locale=locale)
    return env


def language_links(request: Request, current: str) -> list[dict[str, Any]]:
    """The language switch: this page in each language (``?lang=`` sets the cookie)."""
    links = []
    for code in i18n.SUPPORTED:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
        query.append(("lang", code))
        links.append(
            {
                "code": code,
                "name": i18n.NAMES[code],
                "url": f"{request.url.path}?{urlencode(query)}",
                "current": code == current,
            }
        )
    return links


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    locale: str,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A page in ``locale`` with the security headers; remembers a ``?lang=`` choice."""
    env = environment(locale)
    token = csrf.token_for(request.session) if "session" in request.scope else ""
    html = env.get_template(template).render(
        request=request,
        lang=locale,
        csrf_token=token,
        languages=language_links(request, locale),
        account=getattr(request.state, "account", None),
        **context,
    )
    response = HTMLResponse(
        html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})}
    )
    if request.query_params.get("lang") in i18n.SUPPORTED:
        response.set_cookie(
            i18n.COOKIE,
            locale,
            max_age=LANG_COOKIE_SECONDS,
            samesite="lax",
            httponly=True,
        )
    return response


def translate(locale: str, message: str) -> str:
    """A message translated outside a template (JS strings, form errors)."""
    return str(i18n.translations(locale).gettext(message))
