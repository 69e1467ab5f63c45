"""Every connector kind and the runtime that serves it."""

from __future__ import annotations

from backchannel.connectors.supervisor import RuntimeFactory


def runtime_factories() -> dict[str, RuntimeFactory]:
    from backchannel.connectors.bluesky import BlueskyRuntime
    from backchannel.connectors.feeds import FeedRuntime
    from backchannel.connectors.mastodon import MastodonRuntime

    return {"bluesky": BlueskyRuntime, "mastodon": MastodonRuntime, "feed": FeedRuntime}
