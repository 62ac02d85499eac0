"""Kiln's object store: buckets and objects on local disk, metadata in the state database.

This is the domain layer and the internal Python API the rest of Kiln uses (training channels,
model artifacts, pipelines). It knows nothing of HTTP or AWS shapes; `provider.py` translates.

Durability contract: a write streams into a fresh immutable blob file no row names yet, fsyncs it,
then commits one metadata row naming it; only then is the old blob deleted. A crash at any point
leaves either the old object or the new one visible, never a partial one, and `recover()` (run at
start-up, before any request) deletes the leftovers (see blobs.py).

Thread-safety: every method may be called from any thread; `receive()` must run on the event loop.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import io
import ipaddress
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from kiln.core.errors import AlreadyExists, NotFound
from kiln.core.state.db import Database
from kiln.services.s3 import listing
from kiln.services.s3 import tables as q
from kiln.services.s3.blobs import CHUNK, BlobFiles, BlobWriter, SegmentReader, StagedBlob, discard_staged
from kiln.services.s3.models import (
    MAX_KEY_BYTES,
    Bucket,
    BucketNotEmpty,
    BucketOwnedByYou,
    IncompleteBody,
    InvalidBucketName,
    InvalidKey,
    ListPage,
    ObjectInfo,
    ObjectRecord,
    Segment,
    WriteOptions,
)
from kiln.services.s3.tables import BUCKETS, OBJECTS, PARTS, UPLOADS
from kiln.services.s3.uris import download_prefix, parse_uri, upload_dir

LOG = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["ObjectInfo", "ObjectStore", "download_prefix", "parse_uri", "upload_dir"]

IO_THREADS = 16  # threads that digest and write request bodies
LIST_PAGE = 1000  # rows per query when `list()` walks a whole prefix
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def validate_bucket_name(name: str) -> None:
    """S3's general-purpose bucket naming rules. Raises InvalidBucketName."""
    ok = bool(_BUCKET_NAME.match(name)) and ".." not in name and ".-" not in name and "-." not in name
    ok = ok and not name.startswith(_RESERVED_PREFIXES) and not name.endswith(_RESERVED_SUFFIXES)
    if ok:
        with contextlib.suppress(ValueError):
            ipaddress.IPv4Address(name)
            ok = False
    if not ok:
        raise InvalidBucketName("The specified bucket is not valid.")


def validate_key(key: str) -> None:
    """Raises InvalidKey for an empty key, one over 1024 UTF-8 bytes, or one holding a NUL."""
    if not key:
        raise InvalidKey("Object key must not be empty.")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidKey("Your key is too long", too_long=True)
    if "\x00" in key:
        raise InvalidKey("Object key must not contain the NUL character.")


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _info(row: Any) -> ObjectInfo:
    return ObjectInfo(row.bucket, row.key, row.size, row.etag, _dt(row.last_modified), row.content_type,
                      dict(row.metadata or {}))


def _record(row: Any) -> ObjectRecord:
    return ObjectRecord(_info(row), dict(row.headers or {}), dict(row.checksums or {}), row.checksum_type,
                        tuple(Segment(b, s) for b, s in row.segments), row.parts_count)


def quoted_md5(md5: bytes) -> str:
    return f'"{md5.hex()}"'


class ObjectStore:
    """Buckets and objects. One instance per process (it tracks readers to defer deletions)."""

    def __init__(self, db: Database, root: Path) -> None:
        self.db = db
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.files = BlobFiles(root)
        self._listeners: list[Callable[[ObjectInfo], None]] = []
        self._write_lock = threading.Lock()
        # Body writes: digesting (GIL released) and disk writes and fsyncs (blocking). A pool of its
        # own, so a burst of fsyncs never queues the event loop's other thread work behind it.
        self._io = ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="kiln-s3-io")

    def close(self) -> None:
        """Release the body-writing threads (at server shutdown)."""
        self._io.shutdown(wait=True, cancel_futures=True)

    @contextlib.contextmanager
    def tx(self) -> Iterator[Connection]:
        """A write transaction, queued in-process first: SQLite's busy handler polls with sleeps of up
        to 100 ms, so concurrent part commits would stall each other; a lock hands over at once."""
        with self._write_lock, self.db.tx() as conn:
            yield conn

    # Recovery -------------------------------------------------------------------------------

    def recover(self) -> None:
        """Delete temp files and blobs no row names (what a crash left). Run at start-up; safe at
        any time (commits wait, and blobs still being written are spared)."""
        referenced: set[str] = set()
        with self._write_lock:
            with self.db.read() as conn:
                for (segments,) in conn.execute(sa.select(OBJECTS.c.segments)):
                    referenced.update(b for b, _ in segments)
                referenced.update(b for (b,) in conn.execute(sa.select(PARTS.c.blob)))
            temps, orphans = self.files.sweep(referenced)
        if temps or orphans:
            LOG.info("object store recovery: removed %d temp files and %d orphan blobs", temps, orphans)

    # Buckets --------------------------------------------------------------------------------

    def create_bucket(self, name: str, account_id: str, region: str) -> None:
        """Raises InvalidBucketName, BucketOwnedByYou or AlreadyExists (owned by another account)."""
        validate_bucket_name(name)
        with self.tx() as conn:
            owner = conn.execute(sa.select(BUCKETS.c.account_id).where(BUCKETS.c.name == name)).scalar()
            if owner is not None:
                if owner == account_id:
                    raise BucketOwnedByYou("Bucket", name, "Your previous request to create the named "
                                           "bucket succeeded and you already own it.")
                raise AlreadyExists("Bucket", name, "The requested bucket name is not available.")
            conn.execute(BUCKETS.insert().values(name=name, account_id=account_id, region=region,
                                                 created=time.time()))

    def ensure_bucket(self, name: str, account_id: str, region: str) -> None:
        with contextlib.suppress(BucketOwnedByYou):
            self.create_bucket(name, account_id, region)

    def bucket_exists(self, name: str) -> bool:
        with self.db.read() as conn:
            return conn.execute(q.BUCKET_NAME, {"w_name": name}).first() is not None

    def bucket(self, name: str) -> Bucket:
        with self.db.read() as conn:
            row = conn.execute(q.BUCKET_ROW, {"w_name": name}).first()
        if row is None:
            raise _no_bucket(name)
        return Bucket(row.name, row.account_id, row.region, _dt(row.created))

    def buckets(self, account_id: str | None = None) -> list[Bucket]:
        query = sa.select(BUCKETS).order_by(BUCKETS.c.name)
        if account_id is not None:
            query = query.where(BUCKETS.c.account_id == account_id)
        with self.db.read() as conn:
            return [Bucket(r.name, r.account_id, r.region, _dt(r.created)) for r in conn.execute(query)]

    def bucket_count(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(BUCKETS)).scalar() or 0)

    def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket (its unfinished multipart uploads go with it)."""
        with self.tx() as conn:
            self.require_bucket(conn, name)
            if conn.execute(sa.select(OBJECTS.c.key).where(OBJECTS.c.bucket == name).limit(1)).first():
                raise BucketNotEmpty("The bucket you tried to delete is not empty")
            uploads = sa.select(UPLOADS.c.upload_id).where(UPLOADS.c.bucket == name)
            blobs = [b for (b,) in conn.execute(sa.select(PARTS.c.blob).where(PARTS.c.upload_id.in_(uploads)))]
            conn.execute(PARTS.delete().where(PARTS.c.upload_id.in_(uploads)))
            conn.execute(UPLOADS.delete().where(UPLOADS.c.bucket == name))
            conn.execute(BUCKETS.delete().where(BUCKETS.c.name == name))
        self.files.remove(blobs)

    def require_bucket(self, conn: Connection, name: str) -> None:
        """Inside a transaction: raise NotFound unless the bucket exists."""
        if conn.execute(q.BUCKET_NAME, {"w_name": name}).first() is None:
            raise _no_bucket(name)

    # Writing --------------------------------------------------------------------------------

    async def receive(self, body: AsyncIterable[bytes], then: Callable[[StagedBlob], T],
                      algorithms: Iterable[str] = (), *, sha256_payload: bool = False,
                      expected_size: int | None = None) -> T:
        """Stream a request body into a durable, not yet visible blob, then hand it to `then`.

        Chunks are gathered to about 1 MiB and written (and hashed) in a worker thread while the
        next ones arrive; the event loop only collects them. When the body ends, one more worker
        call writes the tail, fsyncs, and runs `then(staged)` (typically: verify the digests and
        `commit()`), so a small object costs a single thread hop. If `then` raises, the blob is
        discarded.

        Raises:
            IncompleteBody: fewer (or more) bytes than `expected_size` arrived.
            UnsupportedChecksum: an algorithm this installation cannot compute.
        """
        loop = asyncio.get_running_loop()
        writer = BlobWriter(self.files, algorithms, sha256_payload=sha256_payload)
        pending: asyncio.Future[Any] | None = None
        chunks: list[bytes] = []
        buffered = 0
        try:
            async for chunk in body:
                if not chunk:
                    continue
                chunks.append(chunk)
                buffered += len(chunk)
                if buffered >= CHUNK:  # hand the pieces over as they are: joining them costs a copy
                    batch, chunks, buffered = chunks, [], 0
                    if pending is not None:
                        await pending
                    # digest and write the batch in two threads at once (both release the GIL)
                    pending = asyncio.gather(loop.run_in_executor(self._io, writer.digest_all, batch),
                                             loop.run_in_executor(self._io, writer.write_raw, batch))
            if pending is not None:
                await pending
                pending = None
        except BaseException:
            _discard_after(writer, pending)
            raise
        return await loop.run_in_executor(self._io, self._finish, writer, chunks, expected_size, then)

    def _finish(self, writer: BlobWriter, tail: list[bytes], expected_size: int | None,
                then: Callable[[StagedBlob], T]) -> T:
        try:
            writer.write_all(tail)
            if expected_size is not None and writer.size != expected_size:
                raise IncompleteBody(f"You did not provide the number of bytes specified by the Content-Length "
                                     f"HTTP header ({expected_size} declared, {writer.size} received).")
            staged = writer.finish()
        except BaseException:
            writer.discard()
            raise
        try:
            return then(staged)
        except BaseException:
            self.discard(staged)
            raise

    def stage_file(self, path: Path, algorithms: Iterable[str] = ()) -> StagedBlob:
        writer = BlobWriter(self.files, algorithms)
        try:
            with open(path, "rb", buffering=0) as src:
                while data := src.read(CHUNK):
                    writer.write(data)
            return writer.finish()
        except BaseException:
            writer.discard()
            raise

    def stage_bytes(self, data: bytes, algorithms: Iterable[str] = ()) -> StagedBlob:
        writer = BlobWriter(self.files, algorithms)
        try:
            writer.write(data)
            return writer.finish()
        except BaseException:
            writer.discard()
            raise

    def commit(self, bucket: str, key: str, staged: StagedBlob, options: WriteOptions | None = None, *,
               checksums: dict[str, str] | None = None) -> ObjectInfo:
        """Make a staged blob the object `bucket/key`, atomically replacing any previous one."""
        options = options or WriteOptions()
        try:
            return self.write_object(bucket, key, [Segment(staged.blob, staged.size)],
                                     etag=quoted_md5(staged.md5), options=options, checksums=checksums or {},
                                     checksum_type="FULL_OBJECT" if checksums else None)
        except BaseException:
            self.discard(staged)
            raise

    def discard(self, staged: StagedBlob) -> None:
        """Drop a staged blob that will not be committed."""
        discard_staged(self.files, staged)

    def write_object(self, bucket: str, key: str, segments: list[Segment], *, etag: str,
                     options: WriteOptions, checksums: dict[str, str], checksum_type: str | None,
                     parts_count: int | None = None,
                     extra: Callable[[Connection], list[str]] | None = None) -> ObjectInfo:
        """Commit an object row naming already-placed blobs; delete the blobs it replaces.

        `extra` runs inside the same transaction (multipart completion deletes its upload there)
        and returns more blobs to delete after the commit.
        """
        validate_key(key)
        now = time.time()
        values = {"size": sum(s.size for s in segments), "etag": etag, "last_modified": now,
                  "content_type": options.content_type, "metadata": dict(options.metadata),
                  "headers": dict(options.headers), "checksums": checksums, "checksum_type": checksum_type,
                  "segments": [[s.blob, s.size] for s in segments], "parts_count": parts_count}
        where = {"w_bucket": bucket, "w_key": key}
        try:
            with self.tx() as conn:
                self.require_bucket(conn, bucket)
                old = conn.execute(q.OBJECT_SEGMENTS, where).first()
                if old is None:
                    conn.execute(q.OBJECT_INSERT, {"bucket": bucket, "key": key, **values})
                else:
                    conn.execute(q.OBJECT_UPDATE, {**where, **values})
                doomed = extra(conn) if extra is not None else []
        finally:
            self.files.settle(s.blob for s in segments)
        keep = {s.blob for s in segments}
        if old is not None:
            doomed += [b for b, _ in old.segments if b not in keep]
        self.files.remove(doomed)
        info = ObjectInfo(bucket, key, values["size"], etag, _dt(now), options.content_type,
                          dict(options.metadata))
        self._notify(info)
        return info

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str | None = None,
                  metadata: dict[str, str] | None = None) -> ObjectInfo:
        self._check_target(bucket, key)
        staged = self.stage_bytes(data)
        return self.commit(bucket, key, staged, WriteOptions(content_type, metadata or {}))

    def put_file(self, bucket: str, key: str, path: Path, content_type: str | None = None,
                 metadata: dict[str, str] | None = None) -> ObjectInfo:
        self._check_target(bucket, key)
        staged = self.stage_file(path)
        return self.commit(bucket, key, staged, WriteOptions(content_type, metadata or {}))

    def _check_target(self, bucket: str, key: str) -> None:
        validate_key(key)
        if not self.bucket_exists(bucket):
            raise _no_bucket(bucket)

    def check_target(self, bucket: str, key: str) -> None:
        """Fail fast (before a body is read) when the bucket is missing or the key invalid."""
        self._check_target(bucket, key)

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str,
             options: WriteOptions | None = None) -> ObjectInfo:
        """Copy an object; `options` None keeps the source's content type, metadata and headers."""
        validate_key(dst_key)
        record = self.pinned(src_bucket, src_key)
        try:
            blobs = [Segment(self.files.duplicate(s.blob), s.size) for s in record.segments]
        finally:
            self.files.unpin([s.blob for s in record.segments])
        if options is None:
            options = WriteOptions(record.info.content_type, record.info.metadata, record.headers)
        try:
            return self.write_object(dst_bucket, dst_key, blobs, etag=record.info.etag, options=options,
                                     checksums=record.checksums, checksum_type=record.checksum_type,
                                     parts_count=record.parts_count)
        except BaseException:
            self.files.remove([s.blob for s in blobs])
            raise

    # Reading --------------------------------------------------------------------------------

    def record(self, bucket: str, key: str) -> ObjectRecord:
        """Raises NotFound (kind "Bucket" or "Object")."""
        with self.db.read() as conn:
            row = conn.execute(q.OBJECT_ROW, {"w_bucket": bucket, "w_key": key}).first()
            if row is None:
                self.require_bucket(conn, bucket)
                raise NotFound("Object", key, "The specified key does not exist.")
        return _record(row)

    def head(self, bucket: str, key: str) -> ObjectInfo:
        return self.record(bucket, key).info

    def pinned(self, bucket: str, key: str) -> ObjectRecord:
        """The record with its blobs pinned: they stay readable until `files.unpin()`."""
        for _ in range(100):
            record = self.record(bucket, key)
            if self.files.pin([s.blob for s in record.segments]):
                return record
        raise RuntimeError(f"object {bucket}/{key} kept changing while being opened")

    def reader(self, record: ObjectRecord) -> SegmentReader:
        """A raw reader over a pinned record's bytes; closing it unpins them."""
        return SegmentReader(self.files, record.segments)

    def open(self, bucket: str, key: str) -> BinaryIO:
        return io.BufferedReader(self.reader(self.pinned(bucket, key)), CHUNK)

    def read_bytes(self, bucket: str, key: str) -> bytes:
        with self.open(bucket, key) as f:
            return f.read()

    def download_to(self, bucket: str, key: str, dest: Path) -> None:
        """Write the object to `dest` (via a temp file beside it, renamed when complete)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        temp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.kiln-download")
        try:
            with self.open(bucket, key) as src, open(temp, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
            os.replace(temp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, sorted by key (read in pages of LIST_PAGE)."""
        after: str | None = None
        while True:
            rows = self._fetch(bucket, after, False, prefix, LIST_PAGE)
            yield from rows
            if len(rows) < LIST_PAGE:
                return
            after = rows[-1].key

    def list_page(self, bucket: str, *, prefix: str = "", delimiter: str | None = None,
                  after: str | None = None, max_keys: int = 1000) -> ListPage:
        if not self.bucket_exists(bucket):
            raise _no_bucket(bucket)
        return listing.page(lambda lo, inc, pfx, n: self._fetch(bucket, lo, inc, pfx, n), prefix=prefix,
                            delimiter=delimiter or None, after=after, max_keys=max_keys)

    def _fetch(self, bucket: str, lower: str | None, inclusive: bool, prefix: str,
               limit: int) -> builtins.list[ObjectInfo]:
        upper = listing.successor(prefix) if prefix else None
        query = q.listing_query(bool(prefix), upper is not None,
                                None if lower is None else ("ge" if inclusive else "gt"))
        params = {"w_bucket": bucket, "w_prefix": prefix, "w_upper": upper, "w_lower": lower, "w_limit": limit}
        with self.db.read() as conn:
            return [_info(r) for r in conn.execute(query, params) if r.key.startswith(prefix)]

    # Deleting -------------------------------------------------------------------------------

    def delete(self, bucket: str, key: str) -> None:
        """Delete an object; deleting a missing key is not an error (S3 semantics)."""
        self.delete_many(bucket, [key])

    def delete_many(self, bucket: str, keys: Sequence[str]) -> None:
        doomed: builtins.list[str] = []
        with self.tx() as conn:
            self.require_bucket(conn, bucket)
            for i in range(0, len(keys), 500):
                batch = keys[i:i + 500]
                where = (OBJECTS.c.bucket == bucket) & OBJECTS.c.key.in_(batch)
                for (segments,) in conn.execute(sa.select(OBJECTS.c.segments).where(where)):
                    doomed += [b for b, _ in segments]
                conn.execute(OBJECTS.delete().where(where))
        self.files.remove(doomed)

    # Notifications --------------------------------------------------------------------------

    def on_object_created(self, callback: Callable[[ObjectInfo], None]) -> None:
        """Call `callback(info)` after every committed object write. Its exceptions are logged."""
        self._listeners.append(callback)

    def _notify(self, info: ObjectInfo) -> None:
        for callback in list(self._listeners):
            try:
                callback(info)
            except Exception:
                LOG.exception("object-created listener %r failed for s3://%s/%s", callback, info.bucket,
                              info.key)


def _no_bucket(name: str) -> NotFound:
    return NotFound("Bucket", name, "The specified bucket does not exist")


def _discard_after(writer: BlobWriter, pending: asyncio.Future[Any] | None) -> None:
    """Discard a writer once its in-flight chunk (if any) is done with the file."""
    if pending is None or pending.done():
        if pending is not None and not pending.cancelled():
            pending.exception()
        writer.discard()
        return

    def later(f: asyncio.Future[Any]) -> None:
        if not f.cancelled():
            f.exception()
        writer.discard()

    pending.add_done_callback(later)
