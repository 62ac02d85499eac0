"""Read-side views of a tuning job: one summary per training job it launched, the status counters,
and the best job. Computed from the trial rows joined with the training jobs; nothing is stored."""

from __future__ import annotations

from dataclasses import dataclass, field

from kiln.core.errors import NotFound
from kiln.core.jobs.lifecycle import JobStatus
from kiln.services.training.service import TrainingService
from kiln.services.tuning.models import Trial, TuningJob, Verdict

RETRYABLE_PREFIX = "InternalServerError"


@dataclass(slots=True)
class TrialSummary:
    tuning_job: str
    number: int
    attempt: int
    training_job: str
    training_job_arn: str
    definition: str | None
    created_at: float
    status: str  # the training job's status
    tuned: dict[str, str]
    objective_status: str  # Succeeded | Pending | Failed
    metric_name: str
    objective_type: str
    value: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    failure_reason: str | None = None
    early_stopped: bool = False
    hyperparameters: dict[str, str] = field(default_factory=dict)

    @property
    def retryable(self) -> bool:
        return self.status == JobStatus.FAILED.value and (self.failure_reason or "").startswith(RETRYABLE_PREFIX)


def summaries(job: TuningJob, trials: list[Trial], training: TrainingService,
              objectives: dict[str | None, dict[str, str]]) -> list[TrialSummary]:
    out = []
    for t in trials:
        try:
            tj = training.get(job.scope, t.training_job)
        except NotFound:
            continue
        objective = objectives.get(t.definition) or next(iter(objectives.values()))
        if t.verdict == Verdict.RUNNING:
            status = "Pending"
        elif t.verdict in (Verdict.COMPLETE, Verdict.PRUNED) and t.value is not None:
            status = "Succeeded"
        else:
            status = "Failed"
        out.append(TrialSummary(
            tuning_job=job.name, number=t.number, attempt=t.attempt, training_job=tj.name, training_job_arn=tj.arn,
            definition=t.definition, created_at=tj.created_at, status=tj.status.value, tuned=dict(t.tuned),
            objective_status=status, metric_name=objective["MetricName"], objective_type=objective["Type"],
            value=t.value if status == "Succeeded" else None, started_at=tj.training_start,
            ended_at=tj.training_end, failure_reason=tj.failure_reason, early_stopped=t.early_stopped,
            hyperparameters=tj.hyperparameters))
    return out


def counters(items: list[TrialSummary]) -> tuple[dict[str, int], dict[str, int]]:
    """(TrainingJobStatusCounters, ObjectiveStatusCounters) in domain terms (keys are AWS's names)."""
    jobs = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}
    objective = {"Succeeded": 0, "Pending": 0, "Failed": 0}
    for s in items:
        if s.status in (JobStatus.IN_PROGRESS.value, JobStatus.STOPPING.value):
            jobs["InProgress"] += 1
        elif s.status == JobStatus.FAILED.value:
            jobs["RetryableError" if s.retryable else "NonRetryableError"] += 1
        else:
            jobs[s.status] += 1
        objective[s.objective_status] += 1
    return jobs, objective


def best(items: list[TrialSummary]) -> TrialSummary | None:
    """The summary with the best final objective (earliest on a tie), or None."""
    scored = [s for s in items if s.objective_status == "Succeeded" and s.value is not None]
    if not scored:
        return None
    sign = -1.0 if scored[0].objective_type == "Maximize" else 1.0
    return min(scored, key=lambda s: (sign * (s.value or 0.0), s.created_at))
