"""The control loop every Kiln service runs (the reconcile-loop habit of STYLE.md, after Ray Serve).

One asyncio task calls `step()` every `interval` seconds, and at once after `notify()` — thread-safe,
so API handlers and worker threads can wake it. A notify that arrives while a step runs makes the
next step start right after it. A failing step is logged and the loop goes on: it never dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

LOG = logging.getLogger(__name__)


class ControlLoop:
    def __init__(self, name: str, step: Callable[[], Awaitable[None]], interval: float) -> None:
        self.name = name
        self.step = step
        self.interval = interval
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        """Thread-safe: run a step now (a no-op before `start()`)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def start(self) -> None:
        """Start stepping; call from the event loop that is to run it."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                LOG.exception("%s: step failed", self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
