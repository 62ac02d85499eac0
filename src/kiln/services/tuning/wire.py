"""Tuning jobs and their trials <-> SageMaker's wire shapes (the only place with PascalCase keys
besides provider.py)."""

from __future__ import annotations

import copy
from typing import Any

from kiln.services.tuning.models import TuningJob
from kiln.services.tuning.views import TrialSummary

_COUNTER_KEYS = ("Completed", "InProgress", "RetryableError", "NonRetryableError", "Stopped")


def config(job: TuningJob, total: int) -> dict[str, Any]:
    """HyperParameterTuningJobConfig as echoed: defaults filled in, Grid's derived job count shown."""
    out = copy.deepcopy(job.config)
    out.setdefault("TrainingJobEarlyStoppingType", "Off")
    out["ResourceLimits"].setdefault("MaxNumberOfTrainingJobs", total)
    return out


def trial_summary(s: TrialSummary) -> dict[str, Any]:
    out: dict[str, Any] = {
        "TrainingJobName": s.training_job, "TrainingJobArn": s.training_job_arn, "TuningJobName": s.tuning_job,
        "CreationTime": s.created_at, "TrainingJobStatus": s.status, "TunedHyperParameters": s.tuned,
        "ObjectiveStatus": s.objective_status,
    }
    if s.definition:
        out["TrainingJobDefinitionName"] = s.definition
    if s.started_at is not None:
        out["TrainingStartTime"] = s.started_at
    if s.ended_at is not None:
        out["TrainingEndTime"] = s.ended_at
    if s.failure_reason:
        out["FailureReason"] = s.failure_reason
    if s.value is not None:
        out["FinalHyperParameterTuningJobObjectiveMetric"] = {"MetricName": s.metric_name, "Value": s.value}
    return out


def counters(jobs: dict[str, int], objective: dict[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    return ({k: jobs.get(k, 0) for k in _COUNTER_KEYS},
            {k: objective.get(k, 0) for k in ("Succeeded", "Pending", "Failed")})


def describe(job: TuningJob, total: int, counts: tuple[dict[str, int], dict[str, int]],
             best: TrialSummary | None, overall: TrialSummary | None, now: float) -> dict[str, Any]:
    jobs, objective = counters(*counts)
    out: dict[str, Any] = {
        "HyperParameterTuningJobName": job.name,
        "HyperParameterTuningJobArn": job.arn,
        "HyperParameterTuningJobConfig": config(job, total),
        "HyperParameterTuningJobStatus": job.status.value,
        "CreationTime": job.created_at,
        "LastModifiedTime": job.modified_at,
        "TrainingJobStatusCounters": jobs,
        "ObjectiveStatusCounters": objective,
        "ConsumedResources": {"RuntimeInSeconds": int((job.ended_at or now) - job.created_at)},
        "TuningJobCompletionDetails": {"NumberOfTrainingJobsObjectiveNotImproving": job.not_improving},
    }
    for key in ("TrainingJobDefinition", "TrainingJobDefinitions", "WarmStartConfig", "Autotune"):
        if job.spec.get(key) is not None:
            out[key] = job.spec[key]
    if job.converged_at is not None:
        out["TuningJobCompletionDetails"]["ConvergenceDetectedTime"] = job.converged_at
    if job.ended_at is not None:
        out["HyperParameterTuningEndTime"] = job.ended_at
    if best is not None:
        out["BestTrainingJob"] = trial_summary(best)
    if overall is not None and job.spec.get("WarmStartConfig"):
        out["OverallBestTrainingJob"] = trial_summary(overall)
    if job.failure_reason:
        out["FailureReason"] = job.failure_reason
    return out


def summary(job: TuningJob, total: int, counts: tuple[dict[str, int], dict[str, int]]) -> dict[str, Any]:
    jobs, objective = counters(*counts)
    out: dict[str, Any] = {
        "HyperParameterTuningJobName": job.name, "HyperParameterTuningJobArn": job.arn,
        "HyperParameterTuningJobStatus": job.status.value, "Strategy": job.strategy,
        "CreationTime": job.created_at, "LastModifiedTime": job.modified_at,
        "TrainingJobStatusCounters": jobs, "ObjectiveStatusCounters": objective,
        "ResourceLimits": config(job, total)["ResourceLimits"],
    }
    if job.ended_at is not None:
        out["HyperParameterTuningEndTime"] = job.ended_at
    return out
