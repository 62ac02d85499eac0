"""TuningJobCompletionCriteria as a pure function of the objective values seen so far.

An improvement is a new best that beats the previous best by at least 1% (of its magnitude), the
threshold SageMaker documents for "not improving" and "converged". Kiln detects convergence when the
last max(5, a quarter of MaxNumberOfTrainingJobs) finished trials brought no such improvement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kiln.services.tuning.models import StopReason

IMPROVEMENT = 0.01


@dataclass(frozen=True, slots=True)
class Progress:
    best: float | None
    not_improving: int  # finished trials since the last improvement of at least 1%
    reason: StopReason | None


def improved(new: float, best: float | None, maximize: bool) -> bool:
    if best is None:
        return True
    margin = abs(best) * IMPROVEMENT if best != 0 else 0.0
    return new > best + margin if maximize else new < best - margin


def progress(values: list[float], criteria: dict[str, Any] | None, *, maximize: bool, max_jobs: int) -> Progress:
    """Where the job stands given its finished trials' objective values, in the order they finished."""
    best: float | None = None
    streak = 0
    for v in values:
        if improved(v, best, maximize):
            streak = 0
        else:
            streak += 1
        if best is None or (v > best if maximize else v < best):
            best = v
    criteria = criteria or {}
    reason: StopReason | None = None
    target = criteria.get("TargetObjectiveMetricValue")
    if target is not None and best is not None and (best >= target if maximize else best <= target):
        reason = StopReason.TARGET_REACHED
    limit = (criteria.get("BestObjectiveNotImproving") or {}).get("MaxNumberOfTrainingJobsNotImproving")
    if reason is None and limit is not None and streak >= int(limit):
        reason = StopReason.NOT_IMPROVING
    if (reason is None and (criteria.get("ConvergenceDetected") or {}).get("CompleteOnConvergence") == "Enabled"
            and streak >= max(5, math.ceil(max_jobs / 4))):
        reason = StopReason.CONVERGED
    return Progress(best, streak, reason)
