"""Stopping a background task."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` and wait until it has ended.

    Its cancellation is not raised here, and a cancellation of the caller is not
    swallowed (``asyncio.wait`` does neither); an error the task ended with is raised.
    """
    if task is None:
        return
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.result()
