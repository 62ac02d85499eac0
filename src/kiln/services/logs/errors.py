"""Domain errors -> CloudWatch Logs error codes (the SDK's log tail matches `ResourceNotFoundException`)."""

from __future__ import annotations

from kiln.aws.errors import AwsError, InternalFailure, ResourceNotFoundException, error
from kiln.core.errors import AlreadyExists, DomainError, InvalidInput, InvalidState, LimitExceeded, NotFound

ResourceAlreadyExistsException = error("ResourceAlreadyExistsException")
InvalidParameterException = error("InvalidParameterException")
LimitExceededException = error("LimitExceededException")


def to_aws_error(err: DomainError) -> AwsError:
    match err:
        case NotFound():
            return ResourceNotFoundException(err.message)  # contract: test_missing_group_errors
        case AlreadyExists():
            return ResourceAlreadyExistsException(err.message)  # contract: test_create_duplicate
        case InvalidInput() | InvalidState():
            return InvalidParameterException(err.message)
        case LimitExceeded():
            return LimitExceededException(err.message)
    return InternalFailure("An internal error occurred.")
