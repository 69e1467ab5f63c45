"""Request parameters the way Mastodon reads them: query, form or JSON, all alike.

Clients send the same parameter as ``tag`` or ``tag[]``, booleans as ``true``,
``True`` or ``1``, bodies as forms or JSON. Bad input is a 422 with Mastodon's
``{"error": "…"}`` shape, never FastAPI's validation detail.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import Request

from backchannel.errors import BadRequest, Unprocessable
from backchannel.kit.pages import Page

_TRUE = {"true", "1", "on", "yes", "t"}
_FALSE = {"false", "0", "off", "no", "f", ""}
_ID = re.compile(r"^[0-9]{1,19}$")
MAX_ID = (1 << 63) - 1


class Params:
    def __init__(self, values: dict[str, list[Any]]) -> None:
        self._values = values

    def has(self, name: str) -> bool:
        return name in self._values or f"{name}[]" in self._values

    def raw(self, name: str) -> list[Any]:
        """The values as sent (a JSON body's lists and objects as they are)."""
        return list(self._values.get(name, []))

    def strings(self, name: str, *, max_items: int = 100) -> list[str]:
        values = self._values.get(f"{name}[]", []) + self._values.get(name, [])
        flat: list[str] = []
        for value in values:
            items = value if isinstance(value, list) else [value]
            flat.extend(str(v) for v in items if v is not None)
        if len(flat) > max_items:
            raise Unprocessable(f"{name}: at most {max_items} values")
        return flat

    def text(self, name: str, default: str | None = None, *, max_length: int = 5000) -> str | None:
        values = self.strings(name)
        if not values:
            return default
        value = values[-1]
        if len(value) > max_length:
            raise Unprocessable(f"{name}: at most {max_length} characters")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        values = self._values.get(name) or self._values.get(f"{name}[]")
        if not values:
            return default
        value = values[-1]
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise Unprocessable(f"{name}: '{value}' is not a boolean")

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        value = self.text(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise Unprocessable(f"{name}: '{value}' is not a number") from None
        return max(low, min(high, number))

    def id(self, name: str) -> int | None:
        value = self.text(name)
        if value is None or value == "":
            return None
        return parse_id(value, name)

    def page(self, *, default_limit: int = 20, max_limit: int = 40) -> Page:
        return Page(
            max_id=self.id("max_id"),
            since_id=self.id("since_id"),
            min_id=self.id("min_id"),
            limit=self.integer("limit", default_limit, low=1, high=max_limit),
        )


def parse_id(value: str, name: str = "id") -> int:
    if not _ID.match(value) or int(value) > MAX_ID:
        raise Unprocessable(f"{name}: '{value[:40]}' is not an id")
    return int(value)


def query(request: Request) -> Params:
    values: dict[str, list[Any]] = {}
    for key, value in request.query_params.multi_items():
        values.setdefault(key, []).append(value)
    return Params(values)


async def body(request: Request) -> Params:
    """The query merged with a form or JSON body (the body wins)."""
    params = query(request)
    values = dict(params._values)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        raw = await request.body()
        if raw.strip():
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise BadRequest("malformed JSON in the request body") from None
            if not isinstance(data, dict):
                raise Unprocessable("the JSON body must be an object")
            for key, value in data.items():
                values[str(key)] = [value]
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        posted: dict[str, list[Any]] = {}
        for key, value in form.multi_items():
            if isinstance(value, str):
                posted.setdefault(key, []).append(value)
        values.update(posted)
    return Params(values)
