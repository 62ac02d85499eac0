"""Domain records and errors of the object store (snake_case, no AWS shapes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from kiln.core.errors import AlreadyExists, DomainError, InvalidInput, InvalidState

MAX_KEY_BYTES = 1024
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10_000


@dataclass(frozen=True)
class ObjectInfo:
    """What the rest of Kiln sees of an object."""

    bucket: str
    key: str
    size: int
    etag: str  # quoted, as S3 returns it: '"<md5 hex>"' or '"<hex>-<parts>"'
    last_modified: datetime
    content_type: str | None
    metadata: dict[str, str]


@dataclass(frozen=True, slots=True)
class Segment:
    blob: str  # file name relative to the store root: "<xx>/<uuid hex>"
    size: int


@dataclass(frozen=True)
class ObjectRecord:
    """An object's full stored record: ObjectInfo plus where its bytes are and what was declared."""

    info: ObjectInfo
    headers: dict[str, str]  # CacheControl, ContentDisposition, ContentEncoding, ContentLanguage, Expires
    checksums: dict[str, str]  # algorithm (CRC32, SHA256, ...) -> base64 value
    checksum_type: str | None
    segments: tuple[Segment, ...]
    parts_count: int | None = None


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    account_id: str
    region: str
    created: datetime


@dataclass(frozen=True, slots=True)
class Upload:
    upload_id: str
    bucket: str
    key: str
    initiated: datetime
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    checksum_algorithm: str | None = None
    checksum_type: str | None = None


@dataclass(frozen=True, slots=True)
class Part:
    part_number: int
    size: int
    etag: str
    last_modified: datetime
    blob: str
    checksums: dict[str, str]


@dataclass(frozen=True, slots=True)
class ListPage:
    """One page of a listing. `last` is the last key or common prefix returned (the next marker)."""

    objects: list[ObjectInfo]
    common_prefixes: list[str]
    truncated: bool
    last: str | None


@dataclass(frozen=True, slots=True)
class WriteOptions:
    """What a writer declares about an object besides its bytes."""

    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


# Errors. The API layer maps each to its S3 code (services/s3/errors.py).


class InvalidBucketName(InvalidInput):
    pass


class InvalidKey(InvalidInput):
    """A key S3 refuses: empty, over 1024 bytes in UTF-8, or holding a NUL."""

    def __init__(self, message: str, *, too_long: bool = False) -> None:
        super().__init__(message)
        self.too_long = too_long


class BucketOwnedByYou(AlreadyExists):
    """The bucket exists and the caller's account owns it."""


class BucketNotEmpty(InvalidState):
    pass


class DigestMismatch(DomainError):
    """The body does not match a digest the client declared. `algorithm` is MD5, CRC32, SHA256, ..."""

    def __init__(self, algorithm: str, message: str) -> None:
        super().__init__(message)
        self.algorithm = algorithm


class InvalidDigest(InvalidInput):
    """A declared digest is not even well-formed (bad base64, wrong length)."""

    def __init__(self, algorithm: str, message: str) -> None:
        super().__init__(message)
        self.algorithm = algorithm


class UnsupportedChecksum(DomainError):
    """A checksum algorithm this installation cannot compute (e.g. CRC32C without its package)."""

    def __init__(self, algorithm: str, message: str) -> None:
        super().__init__(message)
        self.algorithm = algorithm


class IncompleteBody(InvalidInput):
    """Fewer bytes arrived than the request declared."""


class RangeNotSatisfiable(DomainError):
    def __init__(self, requested: str, size: int) -> None:
        super().__init__("The requested range is not satisfiable")
        self.requested = requested
        self.size = size


class PartProblem(InvalidInput):
    """CompleteMultipartUpload's part list is wrong. `code`: InvalidPart, InvalidPartOrder, EntityTooSmall."""

    def __init__(self, code: str, message: str, **fields: str | int) -> None:
        super().__init__(message)
        self.code = code
        self.fields = fields
