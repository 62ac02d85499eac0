"""The object store's metadata tables. Bytes live in blob files; these rows point at them.

An object is a list of *segments* (blob file name, size): one for a plain PUT, one per part for a
completed multipart upload (parts become segments without being copied). Blob files are
immutable: an overwrite writes new blobs, commits the row, then deletes the old ones.

Keys compare as UTF-8 bytes, which is S3's listing order: SQLite's default BINARY collation does
that; on PostgreSQL the key columns use the "C" collation for the same order.
"""

from __future__ import annotations

import sqlalchemy as sa

from kiln.core.state.db import Migration, create_tables

_META = sa.MetaData()


def _key_type() -> sa.types.TypeEngine[str]:
    return sa.String(1024).with_variant(sa.String(1024, collation="C"), "postgresql")


BUCKETS = sa.Table(
    "s3_buckets",
    _META,
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)

OBJECTS = sa.Table(
    "s3_objects",
    _META,
    sa.Column("bucket", sa.String(63), sa.ForeignKey("s3_buckets.name"), primary_key=True),
    sa.Column("key", _key_type(), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("etag", sa.String(64), nullable=False),
    sa.Column("last_modified", sa.Float, nullable=False),
    sa.Column("content_type", sa.String(256)),
    sa.Column("metadata", sa.JSON, nullable=False),  # user metadata (x-amz-meta-*)
    sa.Column("headers", sa.JSON, nullable=False),  # stored HTTP headers: CacheControl, ContentEncoding, ...
    sa.Column("checksums", sa.JSON, nullable=False),  # {"CRC32": "<base64>", ...}
    sa.Column("checksum_type", sa.String(16)),  # FULL_OBJECT | COMPOSITE
    sa.Column("segments", sa.JSON, nullable=False),  # [[blob, size], ...]
    sa.Column("parts_count", sa.Integer),  # set for multipart objects
)

UPLOADS = sa.Table(
    "s3_uploads",
    _META,
    sa.Column("upload_id", sa.String(64), primary_key=True),
    sa.Column("bucket", sa.String(63), sa.ForeignKey("s3_buckets.name"), nullable=False),
    sa.Column("key", _key_type(), nullable=False),
    sa.Column("initiated", sa.Float, nullable=False),
    sa.Column("content_type", sa.String(256)),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("headers", sa.JSON, nullable=False),
    sa.Column("checksum_algorithm", sa.String(16)),
    sa.Column("checksum_type", sa.String(16)),
    sa.Index("ix_s3_uploads_bucket_key", "bucket", "key"),
)

PARTS = sa.Table(
    "s3_parts",
    _META,
    sa.Column("upload_id", sa.String(64), sa.ForeignKey("s3_uploads.upload_id"), primary_key=True),
    sa.Column("part_number", sa.Integer, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("etag", sa.String(64), nullable=False),
    sa.Column("last_modified", sa.Float, nullable=False),
    sa.Column("blob", sa.String(64), nullable=False),
    sa.Column("checksums", sa.JSON, nullable=False),
)

MIGRATIONS: list[Migration] = [
    Migration("s3-0001-buckets-objects-uploads", create_tables(BUCKETS, OBJECTS, UPLOADS, PARTS)),
]
