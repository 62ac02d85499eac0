"""CloudWatch's error codes (from botocore's `cloudwatch` model) and the domain-error mapping."""

from __future__ import annotations

from kiln.aws.errors import AwsError
from kiln.core import errors as domain


class InvalidParameterValue(AwsError):
    code = "InvalidParameterValue"


class MissingParameter(AwsError):
    code = "MissingParameter"


class InvalidParameterCombination(AwsError):
    code = "InvalidParameterCombination"


class InvalidNextToken(AwsError):
    code = "InvalidNextToken"


def to_aws_error(err: domain.DomainError) -> AwsError:
    match err:
        case domain.InvalidInput() | domain.InvalidState() | domain.NotFound():
            return InvalidParameterValue(err.message)
    return InternalServiceError("An internal error occurred.")


class InternalServiceError(AwsError):
    code = "InternalServiceError"
    status = 500
    sender_fault = False
