"""Terminal views of tuning jobs for `kiln tuning` (client side: everything comes from a boto3
SageMaker client, exactly what a user's own code would see)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.table import Table

ACTIVE = ("InProgress", "Stopping")


def jobs_table(sm: Any, limit: int = 20) -> Table:
    table = Table(title="Hyperparameter tuning jobs")
    for col in ("name", "strategy", "status", "completed", "running", "stopped", "failed", "best objective"):
        table.add_column(col, justify="left" if col in ("name", "strategy", "status") else "right")
    summaries = sm.list_hyper_parameter_tuning_jobs(MaxResults=min(limit, 100), SortBy="CreationTime",
                                                    SortOrder="Descending")["HyperParameterTuningJobSummaries"]
    for s in summaries:
        c = s["TrainingJobStatusCounters"]
        best = sm.describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=s["HyperParameterTuningJobName"]).get("BestTrainingJob")
        value = best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] if best else None
        table.add_row(s["HyperParameterTuningJobName"], s["Strategy"], s["HyperParameterTuningJobStatus"],
                      str(c["Completed"]), str(c["InProgress"]), str(c["Stopped"]),
                      str(c["RetryableError"] + c["NonRetryableError"]), _fmt(value))
    return table


def trials_table(sm: Any, name: str) -> tuple[Table, bool]:
    """(the trials of tuning job `name`, best first; whether the job is still running)."""
    desc = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    config = desc["HyperParameterTuningJobConfig"]
    objective = config.get("HyperParameterTuningJobObjective") or {}
    maximize = objective.get("Type") == "Maximize"
    trials: list[dict[str, Any]] = []
    for page in sm.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
            HyperParameterTuningJobName=name):
        trials += page["TrainingJobSummaries"]
    trials.sort(key=lambda t: _rank(t, maximize))
    best = (desc.get("BestTrainingJob") or {}).get("TrainingJobName")
    c = desc["TrainingJobStatusCounters"]
    table = Table(title=f"{name}: {config['Strategy']}, {desc['HyperParameterTuningJobStatus']} "
                        f"({c['Completed']} completed, {c['InProgress']} running, {c['Stopped']} stopped, "
                        f"{c['RetryableError'] + c['NonRetryableError']} failed of "
                        f"{config['ResourceLimits'].get('MaxNumberOfTrainingJobs', '?')})")
    for col in ("", "training job", "status", objective.get("MetricName", "objective"), "hyperparameters",
                "duration"):
        table.add_column(col, no_wrap=col == "training job", justify="right" if col == "duration" else "left")
    for t in trials:
        metric = t.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
        start, end = t.get("TrainingStartTime"), t.get("TrainingEndTime") or datetime.now(UTC)
        hps = " ".join(f"{k}={v}" for k, v in sorted(t["TunedHyperParameters"].items()))
        table.add_row("*" if t["TrainingJobName"] == best else "", t["TrainingJobName"], t["TrainingJobStatus"],
                      _fmt(metric.get("Value")), hps, f"{(end - start).total_seconds():.0f}s" if start else "-")
    return table, desc["HyperParameterTuningJobStatus"] in ACTIVE


def _rank(t: dict[str, Any], maximize: bool) -> tuple[int, float, str]:
    value = (t.get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get("Value")
    if value is not None:
        return 0, -value if maximize else value, t["TrainingJobName"]
    return (1 if t["TrainingJobStatus"] in ACTIVE else 2), 0.0, t["TrainingJobName"]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"
