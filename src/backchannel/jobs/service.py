"""What a job is to the rest of the app: a kind, a handler, a context, a retry policy.

Domain packages register handlers on a :class:`JobRegistry` and queue work with
:func:`enqueue` inside their own transaction; the runner (in-process or a
``backchannel worker``) does the rest.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backchannel.jobs.repository import enqueue as enqueue

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "JobContext",
    "JobHandler",
    "JobRegistry",
    "backoff",
    "enqueue",
]

#: The longest a job kind's name may be (the ``jobs.kind`` column).
MAX_KIND_LENGTH = 64


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler gets besides its payload.

    A handler opens its own sessions from ``sessionmaker`` and commits its own work.
    ``attempt`` counts from 1 and includes runs cut short by a dead worker.
    ``extra`` carries the app's services (broker, HTTP client, settings) by name.
    """

    sessionmaker: async_sessionmaker[AsyncSession]
    job_id: int
    attempt: int
    extra: dict[str, Any] = field(default_factory=dict)


JobHandler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]
HandlerT = TypeVar("HandlerT", bound=JobHandler)


class JobRegistry:
    """Job kinds and the handlers that run them; one per app, built at startup."""

    def __init__(self) -> None:
        self._handlers: dict[str, JobHandler] = {}

    def job(self, kind: str) -> Callable[[HandlerT], HandlerT]:
        """Register the decorated coroutine function as the handler for ``kind``."""

        def register(handler: HandlerT) -> HandlerT:
            self.add(kind, handler)
            return handler

        return register

    def add(self, kind: str, handler: JobHandler) -> None:
        if not kind or len(kind) > MAX_KIND_LENGTH:
            raise ValueError(f"a job kind has 1 to {MAX_KIND_LENGTH} characters: {kind!r}")
        if kind in self._handlers:
            raise ValueError(f"job kind {kind!r} is registered twice")
        self._handlers[kind] = handler

    def get(self, kind: str) -> JobHandler | None:
        return self._handlers.get(kind)

    def kinds(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def __contains__(self, kind: object) -> bool:
        return kind in self._handlers


#: Retry delays start here and double with every failed attempt ...
BACKOFF_BASE = timedelta(seconds=10)
#: ... up to this. Six hours keeps a remote server that is down for a day from being
#: hammered, yet still retries it a few times a day; with the default 8 attempts a
#: job gives up after roughly 20-40 minutes of retries (10 s + 20 s + ... + 21 min),
#: so the cap matters for jobs queued with a larger ``max_attempts``.
BACKOFF_CAP = timedelta(hours=6)


def backoff(attempt: int, *, rng: random.Random | None = None) -> timedelta:
    """How long to wait after failed attempt number ``attempt`` (counting from 1).

    Exponential (``BACKOFF_BASE * 2**(attempt - 1)``, capped at ``BACKOFF_CAP``) with
    "equal jitter": a random point in the upper half of that delay. The jitter keeps
    many jobs that failed together (a remote server went down) from retrying in
    lockstep; keeping the lower half means a retry never comes sooner than half the
    nominal delay, so the backoff still grows.
    """
    exponent = max(attempt, 1) - 1
    # Compare exponents before multiplying: 2**1000 seconds does not fit a timedelta.
    ceiling = BACKOFF_CAP.total_seconds()
    base = BACKOFF_BASE.total_seconds()
    nominal = ceiling if exponent >= 32 else min(ceiling, base * 2**exponent)
    fraction = (rng.uniform if rng is not None else random.uniform)(0.5, 1.0)
    return timedelta(seconds=nominal * fraction)
