"""The Notification entity, from notification rows and the posts they are about."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from backchannel.kit.clock import isoformat
from backchannel.mastodon_api.entities import JSONDict, Renderer
from backchannel.mastodon_api.notification_models import Notification
from backchannel.people.models import Account
from backchannel.posts.models import Post


async def notification_entities(
    renderer: Renderer,
    rows: Sequence[tuple[Notification, Account]],
    posts: Mapping[int, Post],
) -> list[JSONDict]:
    """Notifications as Mastodon shows them, each actor and status rendered once (the
    renderer's viewer: the notified person). A row whose status is gone is left out."""
    actors = list({account.id: account for _, account in rows}.values())
    accounts = dict(zip([a.id for a in actors], await renderer.accounts(actors), strict=True))
    wanted = list(dict.fromkeys(n.status_id for n, _ in rows if n.status_id in posts))
    shown = [posts[i] for i in wanted if i is not None]
    statuses = dict(zip([p.id for p in shown], await renderer.statuses(shown), strict=True))
    result: list[JSONDict] = []
    for notification, account in rows:
        data: JSONDict = {
            "id": str(notification.id),
            "type": notification.type,
            "created_at": isoformat(notification.created_at),
            # Mastodon 4.3's form for a notification grouped with no other.
            "group_key": f"ungrouped-{notification.id}",
            "account": accounts[account.id],
        }
        if notification.status_id is not None:
            status = statuses.get(notification.status_id)
            if status is None:
                continue
            data["status"] = status
        result.append(data)
    return result
