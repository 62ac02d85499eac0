"""Keeps every in-progress transform job driven by a runner, and settles jobs after a crash.

At start-up, model servers left by a previous server on the same data dir are killed; then a job
that was running when the server died ends `Failed` with a reason that says so (its model servers
died with the server, and its outputs may be partial), a `Stopping` job ends `Stopped`, and a job
that no runner had picked up yet simply runs now. After that, a loop wakes on every create/stop
(or every second) and starts a runner for each in-progress job that has none. The loop never dies.
"""

from __future__ import annotations

import asyncio
import logging

from kiln.core.jobs.lifecycle import JobStatus
from kiln.core.jobs.runners import RunnerPool
from kiln.core.loop import ControlLoop
from kiln.execution.local.process import kill_orphans
from kiln.services.transform.runner import RunnerDeps, TransformRunner

LOG = logging.getLogger(__name__)
RESTART_REASON = ("InternalServerError: The Kiln server stopped while this transform job was running; its model "
                  "servers ended with it and its outputs may be incomplete. Create the job again under a new name.")
_ACTIVE = (JobStatus.IN_PROGRESS.value, JobStatus.STOPPING.value)


class TransformReconciler:
    def __init__(self, deps: RunnerDeps, owner: str) -> None:
        self.deps = deps
        self.owner = owner
        self.runners = RunnerPool()
        self._control = ControlLoop("transform-reconciler", self.tick, 1.0)

    def notify(self) -> None:
        """Thread-safe: wake the loop now (called after create/stop)."""
        self._control.notify()

    def recover(self) -> None:
        killed = kill_orphans(self.owner)
        if killed:
            LOG.warning("killed %d orphaned transform model server(s) from a previous server", len(killed))
        service = self.deps.service
        for job in service.repo.list(statuses=_ACTIVE):
            if job.status == JobStatus.STOPPING:
                service.advance(job, JobStatus.STOPPED)
            elif job.started:
                service.advance(job, JobStatus.FAILED, failure_reason=RESTART_REASON)

    async def start(self) -> None:
        await asyncio.to_thread(self.recover)
        self._control.start()

    async def stop(self) -> None:
        await self._control.stop()
        await self.runners.cancel_all()

    async def tick(self) -> None:
        self.runners.prune()
        jobs = await asyncio.to_thread(lambda: list(self.deps.service.repo.list(statuses=_ACTIVE)))
        for job in jobs:
            if job.arn in self.runners:
                continue
            if job.status == JobStatus.STOPPING:
                await asyncio.to_thread(self.deps.service.advance, job, JobStatus.STOPPED)
                continue
            runner = TransformRunner(self.deps, job)
            self.runners.spawn(job.arn, f"transform:{job.name}", runner.run())
