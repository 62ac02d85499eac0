"""Keeps every in-progress training job driven by a runner, and recovers after a crash.

At start-up, job processes left by a previous server on the same data dir are killed, then every
job that was in progress is settled: spot jobs resume from their checkpoints (it is an interruption
as far as they are concerned); other jobs fail with a clear reason, because their processes are gone;
`Stopping` jobs become `Stopped`. After that, a loop wakes on every create/stop (or every second)
and starts a runner for each in-progress job that has none. The loop never dies.
"""

from __future__ import annotations

import asyncio
import logging

from kiln.core.jobs.lifecycle import JobStatus, SecondaryStatus
from kiln.core.jobs.runners import RunnerPool
from kiln.core.loop import ControlLoop
from kiln.execution.local.process import kill_orphans
from kiln.services.training.runner import RunnerDeps, TrainingRunner

LOG = logging.getLogger(__name__)
RESTART_REASON = ("InternalServerError: the Kiln server stopped while this job was running, and the job's "
                  "processes ended with it. Start the job again (spot jobs resume from their checkpoints).")


class TrainingReconciler:
    def __init__(self, deps: RunnerDeps) -> None:
        self.deps = deps
        self.runners = RunnerPool()
        self._control = ControlLoop("training-reconciler", self.tick, 1.0)

    def notify(self) -> None:
        """Thread-safe: wake the loop now (called after create/stop)."""
        self._control.notify()

    def recover(self) -> None:
        killed = kill_orphans(self.deps.owner)
        if killed:
            LOG.warning("killed %d orphaned job process(es) from a previous server", len(killed))
        service = self.deps.service
        for job in service.repo.list(statuses=(JobStatus.IN_PROGRESS.value, JobStatus.STOPPING.value)):
            if job.status == JobStatus.STOPPING:
                service.advance(job, JobStatus.STOPPED, SecondaryStatus.STOPPED,
                                "The Kiln server restarted while the job was stopping")
            elif job.spot and job.attempts > 0:
                service.advance(job, None, SecondaryStatus.INTERRUPTED,
                                "The Kiln server restarted; treated as a spot interruption",
                                interruptions=job.interruptions + 1)
                LOG.info("spot job %s will resume from its checkpoint", job.name)
            elif job.attempts > 0 or job.secondary_status != SecondaryStatus.STARTING:
                service.advance(job, JobStatus.FAILED, SecondaryStatus.FAILED, failure_reason=RESTART_REASON)

    async def start(self) -> None:
        await asyncio.to_thread(self.recover)
        self._control.start()

    async def stop(self) -> None:
        await self._control.stop()
        await self.runners.cancel_all()

    async def tick(self) -> None:
        self.runners.prune()
        jobs = await asyncio.to_thread(lambda: list(self.deps.service.repo.list(
            statuses=(JobStatus.IN_PROGRESS.value, JobStatus.STOPPING.value))))
        for job in jobs:
            if job.arn in self.runners:
                continue
            if job.status == JobStatus.STOPPING:
                self.deps.service.advance(job, JobStatus.STOPPED, SecondaryStatus.STOPPED)
                continue
            runner = TrainingRunner(self.deps, job)
            self.runners.spawn(job.arn, f"training:{job.name}", runner.run())
