"""AWS errors: one class per wire code. `status` is the HTTP status; `sender_fault` picks Sender/Receiver."""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar


class AwsError(Exception):
    """An error answered in the protocol's wire format. `status` defaults to the class's; pass one
    where the same code answers with another status (UnknownOperationException: 400 for an unknown
    X-Amz-Target, 404 for a REST path no operation matches)."""

    code: ClassVar[str] = "InternalFailure"
    status: int = 400
    sender_fault: ClassVar[bool] = True

    def __init__(self, message: str = "", *, fields: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.message = message
        self.fields = fields or {}  # extra members of the error shape (e.g. S3's Key, BucketName)
        self.headers = headers or {}


@cache
def error(code: str, status: int = 400, *, sender_fault: bool = True) -> type[AwsError]:
    """The error class for a code only one service uses, made on first use (one class per code)."""
    return type(code, (AwsError,), {"code": code, "status": status, "sender_fault": sender_fault})


class ValidationException(AwsError):
    code = "ValidationException"


class ValidationError(AwsError):
    """sagemaker-runtime and featurestore-runtime spell it without `Exception`."""

    code = "ValidationError"


class SerializationException(AwsError):
    code = "SerializationException"


class MissingAction(AwsError):
    code = "MissingAction"


class InvalidAction(AwsError):
    code = "InvalidAction"


class UnknownOperationException(AwsError):
    code = "UnknownOperationException"
    status = 404


class NotImplementedOperation(AwsError):
    """An operation that exists in botocore's model but Kiln does not implement."""

    code = "NotImplemented"
    status = 501
    sender_fault = False


class ResourceNotFound(AwsError):
    code = "ResourceNotFound"


class ResourceNotFoundException(AwsError):
    code = "ResourceNotFoundException"


class ResourceInUse(AwsError):
    code = "ResourceInUse"


class ResourceLimitExceeded(AwsError):
    code = "ResourceLimitExceeded"


class ConflictException(AwsError):
    code = "ConflictException"


class InternalFailure(AwsError):
    code = "InternalFailure"
    status = 500
    sender_fault = False


def validation_error_for(service: str) -> type[AwsError]:
    """The class a service answers failed model validation with."""
    if service in ("sagemaker-runtime", "sagemaker-featurestore-runtime"):
        return ValidationError
    if service == "s3":
        return error("InvalidArgument")
    return ValidationException
