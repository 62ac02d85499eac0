"""Domain errors -> Feature Store error codes.

The control plane (`sagemaker`) answers `ResourceNotFound` / `ResourceInUse` (its model's codes) and
`ValidationException`; the runtime (`sagemaker-featurestore-runtime`) answers `ValidationError` for a
bad record and `ResourceNotFound` for a missing group (see tests/contract/test_featurestore_runtime.py).
"""

from __future__ import annotations

from kiln.aws.errors import (
    AwsError,
    InternalFailure,
    ResourceInUse,
    ResourceLimitExceeded,
    ResourceNotFound,
    ValidationError,
    ValidationException,
)
from kiln.core.errors import AlreadyExists, DomainError, InvalidInput, InvalidState, LimitExceeded, NotFound


def control_plane_error(err: DomainError) -> AwsError:
    match err:
        case NotFound():
            return ResourceNotFound(err.message)
        case AlreadyExists():
            return ResourceInUse(err.message)
        case InvalidInput() | InvalidState():
            return ValidationException(err.message)
        case LimitExceeded():
            return ResourceLimitExceeded(err.message)
    return InternalFailure("An internal error occurred.")


def runtime_error(err: DomainError) -> AwsError:
    match err:
        case NotFound():
            return ResourceNotFound(err.message)
        case InvalidInput() | InvalidState() | AlreadyExists() | LimitExceeded():
            return ValidationError(err.message)
    return InternalFailure("An internal error occurred.")
