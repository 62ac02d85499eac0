"""Splitting an input object into the request bodies of a transform job.

* `SplitType=None`: the whole object is one request.
* `Line`: records are lines. `RecordIO` (MXNet framing: magic 0xced7230a, flags and length, data
  padded to 4 bytes; a record split over several frames stays whole) and `TFRecord` (length,
  CRC, data, CRC) keep their framing: the container receives framed records.
* `BatchStrategy=SingleRecord`: one record per request; `MultiRecord`: as many whole records as fit in
  `MaxPayloadInMB` (0: no limit, the whole object). A single record larger than the limit fails the
  job ("Too much data for max payload size", as SageMaker logs it).

Multi-record line batches are cut with one `rfind` per batch, never per line, so a million-row CSV
costs a handful of Python operations. `Batch.records` is filled only when the job's DataProcessing
needs each record. Blocking reads: run `take()` in a worker thread.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

READ = 1 << 22  # bytes read at a time where no payload limit bounds the read
RECORDIO_MAGIC = 0xCED7230A


class RecordTooLarge(Exception):
    """One record does not fit in MaxPayloadInMB."""


class BadFraming(Exception):
    """The object does not follow its SplitType's framing."""


@dataclass(slots=True)
class Batch:
    index: int
    body: bytes
    records: list[bytes] | None = None  # per record, for DataProcessing


def open_input(stream: BinaryIO, compression: str) -> BinaryIO:
    return gzip.GzipFile(fileobj=stream, mode="rb") if compression == "Gzip" else stream  # type: ignore[return-value]


def batches(stream: BinaryIO, split: str, multi: bool, limit: int, keep_records: bool) -> Iterator[Batch]:
    """The requests for one input object, in order."""
    if split == "None":
        data = _read_all(stream, limit)
        if data:
            yield Batch(0, data, [data] if keep_records else None)
        return
    if split == "Line" and multi and not keep_records:
        yield from _line_batches(stream, limit)
        return
    records = _lines(stream) if split == "Line" else _recordio(stream) if split == "RecordIO" else _tfrecord(stream)
    yield from _group(records, multi, limit, keep_records, b"\n" if split == "Line" else b"")


def _read_all(stream: BinaryIO, limit: int) -> bytes:
    data = stream.read(limit + 1) if limit else stream.read()
    if limit and len(data) > limit:
        raise RecordTooLarge("Too much data for max payload size")
    return data


def _line_batches(stream: BinaryIO, limit: int) -> Iterator[Batch]:
    """Whole lines, at most `limit` bytes a batch (0: everything in one)."""
    if not limit:
        data = stream.read()
        if data.strip():
            yield Batch(0, data)
        return
    index, buf, eof = 0, b"", False
    while not eof or buf:
        if not eof and len(buf) < limit:
            more = stream.read(limit - len(buf))
            eof = not more
            buf += more
        if eof and len(buf) <= limit:
            body, buf = buf, b""
        else:
            cut = buf.rfind(b"\n", 0, limit)
            if cut < 0:
                raise RecordTooLarge("Too much data for max payload size")
            body, buf = buf[:cut + 1], buf[cut + 1:]
        if body.strip():
            yield Batch(index, body)
            index += 1


def _lines(stream: BinaryIO) -> Iterator[bytes]:
    for line in stream:
        record = line.rstrip(b"\r\n")
        if record.strip():
            yield record


def _recordio(stream: BinaryIO) -> Iterator[bytes]:
    parts: list[bytes] = []
    while header := stream.read(8):
        if len(header) < 8:
            raise BadFraming("truncated RecordIO header")
        magic, lrec = struct.unpack("<II", header)
        if magic != RECORDIO_MAGIC:
            raise BadFraming("invalid RecordIO magic number")
        flag, length = lrec >> 29, lrec & ((1 << 29) - 1)
        data = stream.read(length + (-length % 4))
        if len(data) < length:
            raise BadFraming("truncated RecordIO record")
        parts.append(header + data)
        if flag in (0, 3):  # a whole record, or the last frame of a split one
            yield b"".join(parts)
            parts = []
    if parts:
        raise BadFraming("truncated multi-frame RecordIO record")


def _tfrecord(stream: BinaryIO) -> Iterator[bytes]:
    while header := stream.read(12):
        if len(header) < 12:
            raise BadFraming("truncated TFRecord header")
        (length,) = struct.unpack("<Q", header[:8])
        data = stream.read(length + 4)
        if len(data) < length + 4:
            raise BadFraming("truncated TFRecord record")
        yield header + data


def _group(records: Iterator[bytes], multi: bool, limit: int, keep: bool, sep: bytes) -> Iterator[Batch]:
    index, group, size = 0, [], 0
    for record in records:
        extra = len(record) + len(sep)
        if limit and extra > limit:
            raise RecordTooLarge("Too much data for max payload size")
        if group and (not multi or (limit and size + extra > limit)):
            yield Batch(index, _join(group, sep), group if keep else None)
            index, group, size = index + 1, [], 0
        group.append(record)
        size += extra
    if group:
        yield Batch(index, _join(group, sep), group if keep else None)


def _join(group: list[bytes], sep: bytes) -> bytes:
    if not sep:
        return b"".join(group)
    return group[0] if len(group) == 1 else sep.join(group) + sep


def take(it: Iterator[Batch], max_batches: int, max_bytes: int) -> list[Batch]:
    """The next few batches (one thread hop for many small ones)."""
    out: list[Batch] = []
    size = 0
    for batch in it:
        out.append(batch)
        size += len(batch.body)
        if len(out) >= max_batches or size >= max_bytes:
            break
    return out
