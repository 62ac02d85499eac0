"""S3's error codes, as S3 sends them, and the mapping from the store's domain errors."""

from __future__ import annotations

from kiln.aws.errors import AwsError, InternalFailure
from kiln.core import errors as domain
from kiln.services.s3 import models


class S3Error(AwsError):
    pass


class NoSuchBucket(S3Error):
    code = "NoSuchBucket"
    status = 404


class NoSuchKey(S3Error):
    code = "NoSuchKey"
    status = 404


class NoSuchUpload(S3Error):
    code = "NoSuchUpload"
    status = 404


class BucketNotEmpty(S3Error):
    code = "BucketNotEmpty"
    status = 409


class BucketAlreadyExists(S3Error):
    code = "BucketAlreadyExists"
    status = 409


class BucketAlreadyOwnedByYou(S3Error):
    code = "BucketAlreadyOwnedByYou"
    status = 409


class InvalidBucketName(S3Error):
    code = "InvalidBucketName"


class KeyTooLongError(S3Error):
    code = "KeyTooLongError"


class InvalidArgument(S3Error):
    code = "InvalidArgument"


class InvalidRequest(S3Error):
    code = "InvalidRequest"


class MalformedXML(S3Error):
    code = "MalformedXML"


class InvalidRange(S3Error):
    code = "InvalidRange"
    status = 416


class InvalidPartNumber(S3Error):
    code = "InvalidPartNumber"
    status = 416


class BadDigest(S3Error):
    code = "BadDigest"


class InvalidDigest(S3Error):
    code = "InvalidDigest"


class XAmzContentSHA256Mismatch(S3Error):
    code = "XAmzContentSHA256Mismatch"


class IncompleteBody(S3Error):
    code = "IncompleteBody"


class InvalidPart(S3Error):
    code = "InvalidPart"


class InvalidPartOrder(S3Error):
    code = "InvalidPartOrder"


class EntityTooSmall(S3Error):
    code = "EntityTooSmall"


class AccessDenied(S3Error):
    code = "AccessDenied"
    status = 403


class PreconditionFailed(S3Error):
    code = "PreconditionFailed"
    status = 412


class NotModified(S3Error):
    code = "NotModified"
    status = 304


class NotImplementedFeature(S3Error):
    code = "NotImplemented"
    status = 501
    sender_fault = False


_PART_CODES: dict[str, type[S3Error]] = {"InvalidPart": InvalidPart, "InvalidPartOrder": InvalidPartOrder,
                                         "EntityTooSmall": EntityTooSmall, "MalformedXML": MalformedXML}


def to_aws(err: domain.DomainError) -> AwsError:
    """The S3 error for a domain error from the store."""
    match err:
        case domain.NotFound(kind="Bucket"):
            return NoSuchBucket(err.message, fields={"BucketName": err.name})
        case domain.NotFound(kind="Object"):
            return NoSuchKey(err.message, fields={"Key": err.name})
        case domain.NotFound(kind="Upload"):
            return NoSuchUpload(err.message, fields={"UploadId": err.name})
        case models.BucketOwnedByYou():
            return BucketAlreadyOwnedByYou(err.message, fields={"BucketName": err.name})
        case domain.AlreadyExists(kind="Bucket"):
            return BucketAlreadyExists(err.message, fields={"BucketName": err.name})
        case models.BucketNotEmpty():
            return BucketNotEmpty(err.message)
        case models.InvalidBucketName():
            return InvalidBucketName(err.message)
        case models.InvalidKey(too_long=True):
            return KeyTooLongError(err.message, fields={"MaxSizeAllowed": models.MAX_KEY_BYTES})
        case models.DigestMismatch(algorithm="SHA256-PAYLOAD"):
            return XAmzContentSHA256Mismatch(err.message)
        case models.DigestMismatch():
            return BadDigest(err.message)
        case models.InvalidDigest():
            return InvalidDigest(err.message) if err.algorithm == "MD5" else InvalidRequest(err.message)
        case models.UnsupportedChecksum():
            return NotImplementedFeature(err.message)
        case models.IncompleteBody():
            return IncompleteBody(err.message)
        case models.RangeNotSatisfiable():
            return InvalidRange(err.message, fields={"RangeRequested": err.requested,
                                                     "ActualObjectSize": err.size})
        case models.PartProblem():
            return _PART_CODES.get(err.code, InvalidPart)(err.message, fields=dict(err.fields))
        case domain.InvalidInput() | domain.InvalidState():
            return InvalidArgument(err.message)
    return InternalFailure("We encountered an internal error. Please try again.")
