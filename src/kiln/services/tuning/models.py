"""Tuning jobs and their trials as the domain sees them (no AWS shapes beyond the stored request)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kiln.core.scope import Scope


class TuningStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    DELETING = "Deleting"
    DELETE_FAILED = "DeleteFailed"


TERMINAL = frozenset({TuningStatus.COMPLETED, TuningStatus.FAILED, TuningStatus.STOPPED})

ALLOWED: dict[TuningStatus, frozenset[TuningStatus]] = {
    TuningStatus.IN_PROGRESS: frozenset({TuningStatus.COMPLETED, TuningStatus.FAILED, TuningStatus.STOPPING}),
    TuningStatus.STOPPING: frozenset({TuningStatus.STOPPED, TuningStatus.FAILED}),
    TuningStatus.COMPLETED: frozenset(),
    TuningStatus.FAILED: frozenset(),
    TuningStatus.STOPPED: frozenset(),
    TuningStatus.DELETING: frozenset(),
    TuningStatus.DELETE_FAILED: frozenset(),
}


class Verdict(StrEnum):
    """What the tuner concluded about one trial attempt (and told the sampler)."""

    RUNNING = "Running"  # the attempt's training job is not finished, or not yet judged
    COMPLETE = "Complete"  # objective value told to the sampler
    PRUNED = "Pruned"  # stopped early (median rule or Hyperband); last intermediate value told
    FAILED = "Failed"  # no objective value (job failed, or never printed the metric)
    RETRIED = "Retried"  # failed with a retryable error; a new attempt took over the trial


class StopReason(StrEnum):
    USER = "User"
    MAX_RUNTIME = "MaxRuntime"
    TARGET_REACHED = "TargetReached"
    NOT_IMPROVING = "NotImproving"
    CONVERGED = "Converged"
    ALL_FAILED = "AllFailed"


@dataclass(slots=True)
class TuningJob:
    scope: Scope
    name: str
    arn: str
    spec: dict[str, Any]  # the validated CreateHyperParameterTuningJob request (Tags removed)
    status: TuningStatus
    created_at: float
    modified_at: float
    seed: int
    ended_at: float | None = None
    failure_reason: str | None = None
    stop_reason: StopReason | None = None  # set once no new trials may start
    not_improving: int = 0
    converged_at: float | None = None
    tags: list[dict[str, str]] = field(default_factory=list)

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.spec["HyperParameterTuningJobConfig"])

    @property
    def strategy(self) -> str:
        return str(self.config["Strategy"])

    @property
    def limits(self) -> dict[str, Any]:
        return dict(self.config.get("ResourceLimits") or {})

    @property
    def max_parallel(self) -> int:
        return int(self.limits.get("MaxParallelTrainingJobs", 1))

    @property
    def max_runtime(self) -> int | None:
        value = self.limits.get("MaxRuntimeInSeconds")
        return int(value) if value is not None else None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(slots=True)
class Trial:
    """One attempt of one trial: a training job launched with one hyperparameter combination.

    `number` is 1-based (the NNN in `<tuning-job>-NNN-xxxxxxxx`); a retried trial keeps its number
    and gets a new attempt (and training job).
    """

    scope: Scope
    tuning_job: str
    number: int
    attempt: int
    training_job: str
    definition: str | None
    params: dict[str, Any]  # sampler-side values, keyed by the sampler's parameter names
    tuned: dict[str, str]  # TunedHyperParameters as sent to the training job
    created_at: float
    verdict: Verdict = Verdict.RUNNING
    value: float | None = None
    intermediate: list[float] = field(default_factory=list)  # objective values in print order (step = i + 1)
    system_attrs: dict[str, Any] = field(default_factory=dict)  # the sampler's/pruner's bookkeeping
    early_stopped: bool = False
    stop_requested: bool = False
