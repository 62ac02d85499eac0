"""Training jobs as the domain sees them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kiln.core.jobs.lifecycle import JobStatus, SecondaryStatus
from kiln.core.scope import Scope


@dataclass(slots=True)
class Transition:
    status: str
    start: float
    message: str
    end: float | None = None


@dataclass(slots=True)
class TrainingJob:
    scope: Scope
    name: str
    arn: str
    spec: dict[str, Any]  # the validated CreateTrainingJob request
    status: JobStatus
    secondary_status: SecondaryStatus
    transitions: list[Transition]
    created_at: float
    modified_at: float
    failure_reason: str | None = None
    training_start: float | None = None
    training_end: float | None = None
    running_seconds: float = 0.0
    billable_seconds: float = 0.0
    model_artifacts: str | None = None
    final_metrics: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    interruptions: int = 0
    stop_requested: bool = False
    interrupt_requested: bool = False
    tuning_job_arn: str | None = None
    tags: list[dict[str, str]] = field(default_factory=list)

    # -- views of the spec -------------------------------------------------------------------
    @property
    def instance_type(self) -> str:
        return str(self.resources.get("InstanceType", "ml.m5.large"))

    @property
    def instance_count(self) -> int:
        return int(self.resources.get("InstanceCount", 1))

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.spec.get("ResourceConfig") or {})

    @property
    def spot(self) -> bool:
        return bool(self.spec.get("EnableManagedSpotTraining"))

    @property
    def max_runtime(self) -> int:
        return int((self.spec.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", 86400))

    @property
    def max_wait(self) -> int | None:
        value = (self.spec.get("StoppingCondition") or {}).get("MaxWaitTimeInSeconds")
        return int(value) if value is not None else None

    @property
    def hyperparameters(self) -> dict[str, str]:
        return dict(self.spec.get("HyperParameters") or {})

    @property
    def output_path(self) -> str:
        return str(self.spec["OutputDataConfig"]["S3OutputPath"])

    @property
    def checkpoint(self) -> dict[str, Any] | None:
        return self.spec.get("CheckpointConfig")

    @property
    def terminal(self) -> bool:
        return self.status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED)
