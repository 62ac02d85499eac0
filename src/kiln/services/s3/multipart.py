"""Multipart uploads: parts are staged blobs; completing an upload turns them into the object's
segments without copying a byte (the ETag is S3's `"<md5 of the parts' binary md5s>-<N>"`).

Every step is one transaction, so a crash leaves an upload either with or without a given part,
and an object either completed or not; leftover blobs are swept by `ObjectStore.recover()`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from kiln.core.errors import NotFound
from kiln.services.s3 import checksums as cks
from kiln.services.s3 import tables as q
from kiln.services.s3.blobs import CHUNK, StagedBlob, iter_segments
from kiln.services.s3.models import (
    MIN_PART_SIZE,
    DigestMismatch,
    ObjectInfo,
    Part,
    PartProblem,
    Segment,
    Upload,
    WriteOptions,
)
from kiln.services.s3.store import ObjectStore, quoted_md5
from kiln.services.s3.tables import PARTS, UPLOADS


@dataclass(frozen=True, slots=True)
class PartRef:
    """A part as CompleteMultipartUpload names it."""

    part_number: int
    etag: str
    checksums: dict[str, str]


@dataclass(frozen=True, slots=True)
class Completed:
    info: ObjectInfo
    checksums: dict[str, str]
    checksum_type: str | None


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _upload(row: Any) -> Upload:
    return Upload(row.upload_id, row.bucket, row.key, _dt(row.initiated), row.content_type,
                  dict(row.metadata or {}), dict(row.headers or {}), row.checksum_algorithm, row.checksum_type)


def _part(row: Any) -> Part:
    return Part(row.part_number, row.size, row.etag, _dt(row.last_modified), row.blob, dict(row.checksums or {}))


def _no_upload(upload_id: str) -> NotFound:
    return NotFound("Upload", upload_id, "The specified upload does not exist. The upload ID may be invalid, "
                                         "or the upload may have been aborted or completed.")


class Multipart:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.db = store.db
        self.files = store.files

    def create(self, bucket: str, key: str, options: WriteOptions, *, checksum_algorithm: str | None = None,
               checksum_type: str | None = None) -> Upload:
        self.store.check_target(bucket, key)
        if checksum_algorithm:
            cks.new(checksum_algorithm)  # UnsupportedChecksum now rather than at the first part
        upload = Upload(secrets.token_urlsafe(48), bucket, key, datetime.now(UTC), options.content_type,
                        dict(options.metadata), dict(options.headers), checksum_algorithm,
                        checksum_type or ("COMPOSITE" if checksum_algorithm else None))
        with self.store.tx() as conn:
            self.store.require_bucket(conn, bucket)
            conn.execute(UPLOADS.insert().values(
                upload_id=upload.upload_id, bucket=bucket, key=key, initiated=upload.initiated.timestamp(),
                content_type=upload.content_type, metadata=upload.metadata, headers=upload.headers,
                checksum_algorithm=upload.checksum_algorithm, checksum_type=upload.checksum_type))
        return upload

    def upload(self, bucket: str, key: str, upload_id: str) -> Upload:
        """Raises NotFound (Bucket or Upload)."""
        with self.db.read() as conn:
            return self._get(conn, bucket, key, upload_id)

    def _get(self, conn: Connection, bucket: str, key: str, upload_id: str) -> Upload:
        row = conn.execute(q.UPLOAD_ROW, {"w_upload_id": upload_id}).first()
        if row is None or row.bucket != bucket or row.key != key:
            self.store.require_bucket(conn, bucket)
            raise _no_upload(upload_id)
        return _upload(row)

    def commit_part(self, bucket: str, key: str, upload_id: str, part_number: int, staged: StagedBlob,
                    checksums: dict[str, str]) -> Part:
        """Make a staged blob part `part_number` of the upload (replacing an earlier upload of it)."""
        blob = staged.blob
        part = Part(part_number, staged.size, quoted_md5(staged.md5), datetime.now(UTC), blob, checksums)
        where = {"w_upload_id": upload_id, "w_part_number": part_number}
        values = {"size": part.size, "etag": part.etag, "last_modified": part.last_modified.timestamp(),
                  "blob": blob, "checksums": checksums}
        try:
            with self.store.tx() as conn:
                self._get(conn, bucket, key, upload_id)
                old = conn.execute(q.PART_BLOB, where).scalar()
                if old is None:
                    conn.execute(q.PART_INSERT, {"upload_id": upload_id, "part_number": part_number, **values})
                else:
                    conn.execute(q.PART_UPDATE, {**where, **values})
        except BaseException:
            self.files.remove([blob])
            raise
        finally:
            self.files.settle([blob])
        if old is not None:
            self.files.remove([old])
        return part

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        with self.store.tx() as conn:
            self._get(conn, bucket, key, upload_id)
            blobs = self._drop(conn, upload_id)
        self.files.remove(blobs)

    @staticmethod
    def _drop(conn: Connection, upload_id: str) -> list[str]:
        blobs = [b for (b,) in conn.execute(sa.select(PARTS.c.blob).where(PARTS.c.upload_id == upload_id))]
        conn.execute(PARTS.delete().where(PARTS.c.upload_id == upload_id))
        conn.execute(UPLOADS.delete().where(UPLOADS.c.upload_id == upload_id))
        return blobs

    def complete(self, bucket: str, key: str, upload_id: str, refs: list[PartRef],
                 full_object_checksums: dict[str, str] | None = None) -> Completed:
        """Assemble the listed parts into the object.

        Raises:
            NotFound: no such bucket or upload.
            PartProblem: InvalidPartOrder, InvalidPart (missing, ETag or checksum mismatch), EntityTooSmall.
            DigestMismatch: a declared full-object checksum does not match.
        """
        with self.db.read() as conn:
            upload = self._get(conn, bucket, key, upload_id)
            rows = conn.execute(sa.select(PARTS).where(PARTS.c.upload_id == upload_id)).all()
        stored = {r.part_number: _part(r) for r in rows}
        chosen = self._check_parts(upload, refs, stored)
        checksums = self._object_checksums(upload, chosen, full_object_checksums or {})
        md5s = b"".join(bytes.fromhex(p.etag.strip('"')) for p in chosen)
        etag = f'"{hashlib.md5(md5s).hexdigest()}-{len(chosen)}"'
        segments = [Segment(p.blob, p.size) for p in chosen]
        used = {p.blob for p in chosen}

        def finish_upload(conn: Connection) -> list[str]:
            if conn.execute(sa.select(UPLOADS.c.upload_id).where(UPLOADS.c.upload_id == upload_id)).first() is None:
                raise _no_upload(upload_id)  # completed or aborted meanwhile
            current = dict(conn.execute(sa.select(PARTS.c.part_number, PARTS.c.blob)
                                        .where(PARTS.c.upload_id == upload_id)).all())
            if any(current.get(p.part_number) != p.blob for p in chosen):
                raise PartProblem("InvalidPart", "A part was uploaded again while the upload was being "
                                  "completed.", UploadId=upload_id)
            return [b for b in self._drop(conn, upload_id) if b not in used]

        info = self.store.write_object(
            bucket, key, segments, etag=etag,
            options=WriteOptions(upload.content_type, upload.metadata, upload.headers),
            checksums=checksums, checksum_type=upload.checksum_type if checksums else None,
            parts_count=len(chosen), extra=finish_upload)
        return Completed(info, checksums, upload.checksum_type if checksums else None)

    @staticmethod
    def _check_parts(upload: Upload, refs: list[PartRef], stored: dict[int, Part]) -> list[Part]:
        if not refs:
            raise PartProblem("MalformedXML", "The XML you provided was not well-formed or did not validate "
                                              "against our published schema")
        chosen: list[Part] = []
        previous = 0
        for ref in refs:
            if ref.part_number <= previous:
                raise PartProblem("InvalidPartOrder", "The list of parts was not in ascending order. The parts "
                                                      "list must be specified in order by part number.")
            previous = ref.part_number
            part = stored.get(ref.part_number)
            if part is None or part.etag.strip('"') != ref.etag.strip().strip('"'):
                raise PartProblem("InvalidPart", "One or more of the specified parts could not be found.  The "
                                  "part may not have been uploaded, or the specified entity tag may not match "
                                  "the part's entity tag.", UploadId=upload.upload_id,
                                  PartNumber=ref.part_number, ETag=ref.etag)
            for algorithm, value in ref.checksums.items():
                if part.checksums.get(algorithm) not in (None, value):
                    raise PartProblem("InvalidPart", f"The {algorithm} checksum of part {ref.part_number} does "
                                      "not match the uploaded part.", UploadId=upload.upload_id,
                                      PartNumber=ref.part_number, ETag=ref.etag)
            chosen.append(part)
        for part in chosen[:-1]:
            if part.size < MIN_PART_SIZE:
                raise PartProblem("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed "
                                  "size", ProposedSize=part.size, MinSizeAllowed=MIN_PART_SIZE)
        return chosen

    def _object_checksums(self, upload: Upload, parts: list[Part], declared: dict[str, str]) -> dict[str, str]:
        algorithm = upload.checksum_algorithm
        if not algorithm:
            return {}
        if upload.checksum_type == "FULL_OBJECT":
            digest = cks.new(algorithm)
            for chunk in iter_segments(self.files, [Segment(p.blob, p.size) for p in parts], 0,
                                       sum(p.size for p in parts) - 1, CHUNK):
                digest.update(chunk)
            value = cks.b64(digest.digest())
            if algorithm in declared and declared[algorithm] != value:
                raise DigestMismatch(algorithm, f"The {algorithm} you specified did not match the calculated "
                                                "checksum.")
            return {algorithm: value}
        values = [p.checksums.get(algorithm) for p in parts]
        if any(v is None for v in values):
            return {}
        return {algorithm: cks.composite(algorithm, [v for v in values if v is not None])}

    def parts(self, bucket: str, key: str, upload_id: str, *, after: int = 0,
              max_parts: int = 1000) -> tuple[Upload, list[Part], bool]:
        """Parts numbered above `after`, at most `max_parts`; the flag says whether more follow."""
        with self.db.read() as conn:
            upload = self._get(conn, bucket, key, upload_id)
            rows = conn.execute(sa.select(PARTS).where((PARTS.c.upload_id == upload_id)
                                                       & (PARTS.c.part_number > after))
                                .order_by(PARTS.c.part_number).limit(max_parts + 1)).all()
        parts = [_part(r) for r in rows]
        return upload, parts[:max_parts], len(parts) > max_parts

    def uploads(self, bucket: str, *, prefix: str = "", key_marker: str | None = None,
                upload_id_marker: str | None = None, max_uploads: int = 1000) -> tuple[list[Upload], bool]:
        """Uploads in progress, ordered by key then initiation time; the flag says whether more follow."""
        if not self.store.bucket_exists(bucket):
            raise NotFound("Bucket", bucket, "The specified bucket does not exist")
        query = sa.select(UPLOADS).where(UPLOADS.c.bucket == bucket)
        if prefix:
            query = query.where(UPLOADS.c.key >= prefix)
        if key_marker is not None:
            query = query.where(UPLOADS.c.key >= key_marker)
        query = query.order_by(UPLOADS.c.key, UPLOADS.c.initiated, UPLOADS.c.upload_id)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        out: list[Upload] = []
        passed_id_marker = upload_id_marker is None
        for row in rows:
            if not row.key.startswith(prefix):
                if row.key > prefix:
                    break
                continue
            if row.key == key_marker:
                if not passed_id_marker:
                    passed_id_marker = row.upload_id == upload_id_marker
                    continue
                if upload_id_marker is None:
                    continue  # key-marker alone: only keys after it
            out.append(_upload(row))
            if len(out) > max_uploads:
                break
        return out[:max_uploads], len(out) > max_uploads


__all__ = ["Completed", "Multipart", "PartRef"]
