"""Polls are not supported here, and a post that asks for one is refused, not posted
without it: the author would otherwise think the hall could vote."""

from __future__ import annotations

from backchannel.errors import Unprocessable
from backchannel.mastodon_api.params import Params

NOT_SUPPORTED = "Polls are not supported on this server"
#: How a poll arrives: a JSON object ``poll``, or form fields ``poll[options][]`` and
#: its companions.
_FIELDS = ("poll", "poll[options]", "poll[expires_in]", "poll[multiple]", "poll[hide_totals]")


def refuse_polls(p: Params) -> None:
    """422 if the request asks for a poll (an empty or ``null`` one is no poll)."""
    for name in _FIELDS:
        if any(value.strip() for value in p.strings(name, max_items=10_000)):
            raise Unprocessable(NOT_SUPPORTED)
