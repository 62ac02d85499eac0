"""Job status machines: the statuses SageMaker reports, and which moves between them are legal.

Values are botocore's enum strings (tests/unit/test_enums_match_botocore.py checks them).
`services/*/service.py` and `reconciler.py` are the only writers, and they go through
`check_transition` before a compare-and-set update, so a Stop racing a completion resolves cleanly.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from kiln.core.errors import InvalidState


class JobStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


class SecondaryStatus(StrEnum):
    STARTING = "Starting"
    LAUNCHING_ML_INSTANCES = "LaunchingMLInstances"
    PREPARING_TRAINING_STACK = "PreparingTrainingStack"
    DOWNLOADING = "Downloading"
    DOWNLOADING_TRAINING_IMAGE = "DownloadingTrainingImage"
    TRAINING = "Training"
    UPLOADING = "Uploading"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"
    COMPLETED = "Completed"
    FAILED = "Failed"
    INTERRUPTED = "Interrupted"
    MAX_WAIT_TIME_EXCEEDED = "MaxWaitTimeExceeded"
    UPDATING = "Updating"
    RESTARTING = "Restarting"
    PENDING = "Pending"


TERMINAL: Final = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED})

ALLOWED: Final[dict[JobStatus, frozenset[JobStatus]]] = {
    JobStatus.IN_PROGRESS: frozenset({JobStatus.STOPPING, JobStatus.COMPLETED, JobStatus.FAILED,
                                      JobStatus.STOPPED}),
    # A job may finish (or fail) while it is being stopped.
    JobStatus.STOPPING: frozenset({JobStatus.STOPPED, JobStatus.COMPLETED, JobStatus.FAILED}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.STOPPED: frozenset(),
}


def check_transition(name: str, current: JobStatus, to: JobStatus) -> None:
    """Raise InvalidState unless `current -> to` is a legal move (staying put is always legal)."""
    if to != current and to not in ALLOWED[current]:
        raise InvalidState(f"Job {name} is {current.value}; it cannot move to {to.value}.")
