"""Imports every model so ``Base.metadata`` is complete (for Alembic and tests)."""

from backchannel.connectors.models import (
    Connector,
    ConnectorCursor,
    ConnectorLease,
    RemoteStatusId,
)
from backchannel.events.models import Event, EventModerator, EventSession, EventTag
from backchannel.jobs.models import Job
from backchannel.mastodon_api import media_models  # noqa: F401
from backchannel.mastodon_api import models as mastodon_models  # noqa: F401
from backchannel.mastodon_api import notification_models as notifications  # noqa: F401
from backchannel.moderation.models import AuditEntry, EventPost
from backchannel.people.models import Account, ApiToken
from backchannel.posts.models import Post, PostTag, Tombstone
from backchannel.streams.models import StreamCounter, StreamEntry, StreamPayload
from backchannel.web.models import Wall

__all__ = [
    "Account",
    "ApiToken",
    "AuditEntry",
    "Connector",
    "ConnectorCursor",
    "ConnectorLease",
    "RemoteStatusId",
    "Event",
    "EventModerator",
    "EventPost",
    "EventSession",
    "EventTag",
    "Job",
    "Post",
    "PostTag",
    "StreamCounter",
    "StreamEntry",
    "StreamPayload",
    "Tombstone",
    "Wall",
]
