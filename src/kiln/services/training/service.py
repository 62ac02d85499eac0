"""Training-job use-cases: create, describe, list, stop, interrupt, and the one status writer."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from kiln.core import arns, clock
from kiln.core.errors import AlreadyExists, InvalidInput, InvalidState
from kiln.core.instances import lookup
from kiln.core.jobs.lifecycle import JobStatus, SecondaryStatus, check_transition
from kiln.core.scope import Scope
from kiln.services.training.models import TrainingJob, Transition
from kiln.services.training.repository import TrainingJobRepository

# SageMaker's own secondary-status messages.
MESSAGES: dict[SecondaryStatus, str] = {
    SecondaryStatus.STARTING: "Launching requested ML instances",
    SecondaryStatus.DOWNLOADING: "Downloading input data",
    SecondaryStatus.TRAINING: "Training image download completed. Training in progress.",
    SecondaryStatus.UPLOADING: "Uploading generated training model",
    SecondaryStatus.COMPLETED: "Training job completed",
    SecondaryStatus.FAILED: "Training job failed",
    SecondaryStatus.STOPPING: "Stopping the training job",
    SecondaryStatus.STOPPED: "The training job was stopped",
    SecondaryStatus.MAX_RUNTIME_EXCEEDED: "Training job stopped: it exceeded MaxRuntimeInSeconds",
    SecondaryStatus.MAX_WAIT_TIME_EXCEEDED: "Training job stopped: it exceeded MaxWaitTimeInSeconds",
    SecondaryStatus.INTERRUPTED: "Spot capacity was reclaimed; the training job was interrupted",
}


def _check_spec(request: dict[str, Any]) -> None:
    names = [c["ChannelName"] for c in request.get("InputDataConfig") or []]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(f"Channel names must be unique; duplicated: {', '.join(dupes)}.")
    stopping = request.get("StoppingCondition") or {}
    if request.get("EnableManagedSpotTraining"):
        wait = stopping.get("MaxWaitTimeInSeconds")
        if wait is None:
            raise InvalidInput("MaxWaitTimeInSeconds is required when EnableManagedSpotTraining is true.")
        if wait < stopping.get("MaxRuntimeInSeconds", 86400):
            raise InvalidInput("Invalid MaxWaitTimeInSeconds. It must be present and be greater than or "
                               "equal to MaxRuntimeInSeconds")
    elif "MaxWaitTimeInSeconds" in stopping:
        raise InvalidInput("MaxWaitTimeInSeconds can only be set when EnableManagedSpotTraining is true.")
    uris = [request["OutputDataConfig"]["S3OutputPath"]]
    uris += [c["DataSource"]["S3DataSource"]["S3Uri"] for c in request.get("InputDataConfig") or []
             if "S3DataSource" in c.get("DataSource", {})]
    if request.get("CheckpointConfig"):
        uris.append(request["CheckpointConfig"]["S3Uri"])
    for uri in uris:
        if not uri.startswith("s3://") or len(uri) <= 5:
            raise InvalidInput(f"Invalid S3 URI {uri!r}: it must start with s3:// and name a bucket.")
    algo = request["AlgorithmSpecification"]
    if not algo.get("TrainingImage") and not algo.get("AlgorithmName"):
        raise InvalidInput("AlgorithmSpecification must name a TrainingImage or an AlgorithmName.")


class TrainingService:
    def __init__(self, repo: TrainingJobRepository, notify: Callable[[], None] = lambda: None) -> None:
        self.repo = repo
        self.notify = notify  # wakes the reconciler (thread-safe)
        self.signals: dict[str, Callable[[str], None]] = {}  # arn -> runner's signal hook

    # -- use-cases ---------------------------------------------------------------------------
    def create(self, scope: Scope, request: dict[str, Any], *, tuning_job_arn: str | None = None) -> TrainingJob:
        _check_spec(request)
        now = clock.epoch()
        name = request["TrainingJobName"]
        job = TrainingJob(
            scope=scope, name=name, arn=arns.sagemaker(scope, "training-job", name), spec=request,
            status=JobStatus.IN_PROGRESS, secondary_status=SecondaryStatus.STARTING,
            transitions=[Transition(SecondaryStatus.STARTING.value, now, MESSAGES[SecondaryStatus.STARTING])],
            created_at=now, modified_at=now, tuning_job_arn=tuning_job_arn, tags=list(request.get("Tags") or []),
        )
        if not self.repo.insert(job):
            raise AlreadyExists("TrainingJob", name, f"Training job names must be unique within an AWS "
                                                     f"account and region, and a training job with this "
                                                     f"name already exists ({job.arn})")
        self.notify()
        return job

    def get(self, scope: Scope, name: str) -> TrainingJob:
        return self.repo.get(scope, name)

    def stop(self, scope: Scope, name: str) -> TrainingJob:
        job = self.repo.get(scope, name)
        if job.status == JobStatus.STOPPING:
            return job
        if job.status != JobStatus.IN_PROGRESS:
            raise InvalidState(f"The request was rejected because the training job is in status "
                               f"{job.status.value}.")
        job = self.advance(job, JobStatus.STOPPING, SecondaryStatus.STOPPING, stop_requested=True)
        self._signal(job, "stop")
        return job

    def interrupt(self, scope: Scope, name: str) -> TrainingJob:
        """Kiln-only: inject a spot interruption (for testing resume logic)."""
        job = self.repo.get(scope, name)
        if not job.spot:
            raise InvalidState(f"Training job {name} does not use managed spot training.")
        if job.status != JobStatus.IN_PROGRESS:
            raise InvalidState(f"Training job {name} is {job.status.value}; only running jobs can be "
                               "interrupted.")
        job = self.update(job, interrupt_requested=True)
        self._signal(job, "interrupt")
        return job

    def _signal(self, job: TrainingJob, what: str) -> None:
        hook = self.signals.get(job.arn)
        if hook is not None:
            hook(what)
        self.notify()

    # -- the one status writer --------------------------------------------------------------
    def advance(self, job: TrainingJob, status: JobStatus | None, secondary: SecondaryStatus,
                message: str | None = None, **changes: Any) -> TrainingJob:
        """Move `job` to (status, secondary), closing the open transition; compare-and-set on the
        stored status. On a lost race, reload and re-apply if still legal."""
        def change(job: TrainingJob) -> None:
            target = status or job.status
            check_transition(job.name, job.status, target)
            now = clock.epoch()
            if job.transitions and job.transitions[-1].end is None and job.secondary_status != secondary:
                job.transitions[-1].end = now
            if job.secondary_status != secondary or not job.transitions:
                job.transitions.append(Transition(secondary.value, now, message or MESSAGES.get(secondary, "")))
            elif message:
                job.transitions[-1].message = message
            job.status, job.secondary_status, job.modified_at = target, secondary, now
            for key, value in changes.items():
                setattr(job, key, value)
            if target in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED) and job.transitions:
                job.transitions[-1].end = job.transitions[-1].end or now

        return self.repo.apply(job, change)

    def update(self, job: TrainingJob, **changes: Any) -> TrainingJob:
        """Change non-status fields (keeps status; CAS on it)."""
        return self.advance(job, None, job.secondary_status, **changes)

    @staticmethod
    def billing(job: TrainingJob) -> tuple[int, int]:
        """(TrainingTimeInSeconds, BillableTimeInSeconds). Spot bills running seconds at the catalog's
        spot/on-demand price ratio."""
        if job.training_start is None:
            return 0, 0
        end = job.training_end or clock.epoch()
        training = max(1, math.ceil(end - job.training_start))
        running = job.running_seconds
        ratio = lookup(job.instance_type).spot_ratio if job.spot else 1.0
        billable = max(1, math.ceil(running * ratio)) if running > 0 else 0
        return training, billable

    @staticmethod
    def cost(job: TrainingJob) -> float:
        """USD at on-demand prices for the billable seconds (spot discount already in them)."""
        _, billable = TrainingService.billing(job)
        return billable / 3600 * lookup(job.instance_type).price * job.instance_count
