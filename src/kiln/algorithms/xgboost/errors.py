"""Errors of a built-in algorithm run, split as SageMaker's algorithm toolkit splits them.

A `ClientError` is the user's to fix (bad hyperparameter, missing channel, malformed data); an
`AlgorithmError` is a failure of the algorithm itself. Either ends the run: the message goes to
/opt/ml/output/failure (its first 1024 characters become DescribeTrainingJob.FailureReason) and the
process exits non-zero.
"""

from __future__ import annotations

from pathlib import Path


class AlgorithmRunError(Exception):
    """Base: `prefix` starts the failure reason, as in SageMaker's built-in algorithms."""

    prefix = "AlgorithmError"
    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def failure_reason(self) -> str:
        return f"{self.prefix}: {self.message}"


class ClientError(AlgorithmRunError):
    """Caused by the job's configuration or data (SageMaker's UserError)."""

    prefix = "ClientError"
    exit_code = 1


class AlgorithmError(AlgorithmRunError):
    """An unexpected failure inside the algorithm."""


def write_failure(output_dir: Path, reason: str) -> None:
    """Write /opt/ml/output/failure; never raises (the run is failing already)."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "failure").write_text(reason)
    except OSError:
        pass
