"""AWS errors: one class per wire code. `status` is the HTTP status; `sender_fault` picks Sender/Receiver."""

from __future__ import annotations

from typing import Any, ClassVar


class AwsError(Exception):
    code: ClassVar[str] = "InternalFailure"
    status: ClassVar[int] = 400
    sender_fault: ClassVar[bool] = True

    def __init__(self, message: str = "", *, fields: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}  # extra members of the error shape (e.g. S3's Key, BucketName)
        self.headers = headers or {}


def error(code: str, status: int = 400, *, sender_fault: bool = True) -> type[AwsError]:
    """Make an error class for a code on the fly (for codes only one service uses)."""
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
