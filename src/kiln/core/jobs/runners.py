"""The runner tasks of a job service (training, transform): one asyncio task per running job, keyed by
the job's ARN. A reconciler starts a runner for each active job that has none, forgets finished ones,
and cancels them all when the server stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


class RunnerPool(dict[str, "asyncio.Task[None]"]):
    def prune(self) -> None:
        """Forget the runners that have finished."""
        for arn, task in list(self.items()):
            if task.done():
                del self[arn]

    def spawn(self, arn: str, name: str, run: Coroutine[Any, Any, None]) -> None:
        self[arn] = asyncio.create_task(run, name=name)

    async def cancel_all(self) -> None:
        tasks = list(self.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
