"""Blob files: the bytes of objects and parts, written durably, never named after a key.

Layout under the store root: `<xx>/<32 hex>` immutable blob files (xx = the first two hex digits of a
random name). A write streams straight into a fresh blob file that no metadata row names yet, so
nobody can see it; it is fsynced when complete, and only then does the caller commit the row that
names it (on ext4, XFS and btrfs, fsync of a new file also makes its directory entry durable, so one
fsync per write suffices). Until that commit the blob is an orphan: a crash mid-write leaves only
orphans, and `sweep()` deletes them at start-up. `.tmp/` holds nothing in normal operation; what a
crash leaves there is swept too.

Readers *pin* the blobs they stream; deleting a pinned blob is deferred until its last reader
unpins, so an overwrite or delete never cuts a download short. Thread-safe.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kiln.services.s3.checksums import BodyDigests
from kiln.services.s3.models import Segment

LOG = logging.getLogger(__name__)

CHUNK = 1024 * 1024  # read/write unit of the data path
TEMP_DIR = ".tmp"
_IOV_BATCH = 512  # below every platform's IOV_MAX


@dataclass(frozen=True, slots=True)
class StagedBlob:
    """A complete, fsynced blob no row names yet, and the digests of its bytes."""

    blob: str
    size: int
    md5: bytes
    digests: dict[str, bytes]
    sha256_hex: str | None = None


class BlobFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.temp_dir = root / TEMP_DIR
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._pins: Counter[str] = Counter()
        self._doomed: set[str] = set()
        self._fresh: set[str] = set()  # created, not yet named by a committed row nor discarded

    def path(self, blob: str) -> Path:
        return self.root / blob

    def new_blob(self) -> str:
        """A fresh blob name, its directory created."""
        name = uuid.uuid4().hex
        (self.root / name[:2]).mkdir(exist_ok=True)
        blob = f"{name[:2]}/{name}"
        with self._lock:
            self._fresh.add(blob)
        return blob

    def settle(self, blobs: Iterable[str]) -> None:
        """The commit that names (or the discard that drops) these new blobs is over."""
        with self._lock:
            self._fresh.difference_update(blobs)

    def duplicate(self, blob: str) -> str:
        """A new blob with the same bytes (a hard link: blobs are immutable, so sharing is safe)."""
        new = self.new_blob()
        target = self.root / new
        try:
            os.link(self.root / blob, target)
        except OSError:
            shutil.copyfile(self.root / blob, target)
            with open(target, "rb+") as f:
                os.fsync(f.fileno())
        return new

    # Pinning and deletion.

    def pin(self, blobs: Sequence[str]) -> bool:
        """Pin blobs for reading. False when one is already gone (the caller reloads the row)."""
        with self._lock:
            if any(b in self._doomed or not (self.root / b).exists() for b in blobs):
                return False
            self._pins.update(blobs)
            return True

    def unpin(self, blobs: Sequence[str]) -> None:
        with self._lock:
            for b in blobs:
                self._pins[b] -= 1
                if self._pins[b] <= 0:
                    del self._pins[b]
                    if b in self._doomed:
                        self._doomed.discard(b)
                        self._unlink(b)

    def remove(self, blobs: Iterable[str]) -> None:
        """Delete blobs no row names any more (now, or when their last reader unpins)."""
        with self._lock:
            for b in blobs:
                self._fresh.discard(b)
                if self._pins.get(b):
                    self._doomed.add(b)
                else:
                    self._unlink(b)

    def _unlink(self, blob: str) -> None:
        try:
            (self.root / blob).unlink()
        except FileNotFoundError:
            pass
        except OSError:
            LOG.warning("could not delete blob %s; start-up recovery will retry", blob, exc_info=True)

    # Recovery.

    def sweep(self, referenced: set[str]) -> tuple[int, int]:
        """Delete every temp file and every blob neither in `referenced` nor still being written.

        The caller holds off commits while it reads `referenced` and sweeps (ObjectStore.recover).

        Returns:
            (temp files removed, orphan blobs removed).
        """
        temps = 0
        for entry in os.scandir(self.temp_dir):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                temps += 1
        with self._lock:
            fresh = set(self._fresh)
        orphans = 0
        for blob in self.scan():
            if blob not in referenced and blob not in fresh:
                self._unlink(blob)
                orphans += 1
        return temps, orphans

    def scan(self) -> Iterator[str]:
        for sub in os.scandir(self.root):
            if sub.is_dir() and len(sub.name) == 2 and sub.name != TEMP_DIR:
                for entry in os.scandir(sub.path):
                    yield f"{sub.name}/{entry.name}"


class BlobWriter:
    """Writes one blob, digesting as it goes. Not thread-safe: one writer per body."""

    def __init__(self, files: BlobFiles, algorithms: Iterable[str] = (), *, sha256_payload: bool = False) -> None:
        self.digests = BodyDigests(algorithms, sha256_payload=sha256_payload)
        self._files = files
        self.blob = files.new_blob()
        self._file: BinaryIO | None = open(files.path(self.blob), "xb", buffering=0)  # noqa: SIM115

    @property
    def size(self) -> int:
        return self.digests.size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert self._file is not None
        self.digests.update(data)
        view = memoryview(data)
        while view:
            n = self._file.write(view)
            view = view[n:] if n else view

    def write_all(self, chunks: Sequence[bytes]) -> None:
        """Digest and write several chunks."""
        self.digest_all(chunks)
        self.write_raw(chunks)

    def digest_all(self, chunks: Sequence[bytes]) -> None:
        """Feed chunks to the digests only (pair with `write_raw` of the same chunks, in order)."""
        for chunk in chunks:
            self.digests.update(chunk)

    def write_raw(self, chunks: Sequence[bytes]) -> None:
        """Write chunks without digesting them, with one `writev` per batch (no joining copy)."""
        assert self._file is not None
        fd = self._file.fileno()
        for i in range(0, len(chunks), _IOV_BATCH):
            batch = [memoryview(c) for c in chunks[i:i + _IOV_BATCH] if c]
            while batch:
                n = os.writev(fd, batch)
                while batch and n >= len(batch[0]):
                    n -= len(batch[0])
                    batch.pop(0)
                if batch and n:
                    batch[0] = batch[0][n:]

    def finish(self) -> StagedBlob:
        """fsync and close: the blob is complete and durable when this returns."""
        assert self._file is not None
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        d = self.digests
        return StagedBlob(self.blob, d.size, d.md5.digest(), d.results(), d.sha256_hex())

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._files.remove([self.blob])


def discard_staged(files: BlobFiles, staged: StagedBlob) -> None:
    """Delete a staged blob that will not be committed."""
    files.remove([staged.blob])


def iter_segments(files: BlobFiles, segments: Sequence[Segment], start: int, end: int,
                  chunk: int = CHUNK) -> Iterator[bytes]:
    """The bytes [start, end] (inclusive) of an object made of `segments`, in chunks of `chunk`."""
    offset = 0
    for seg in segments:
        seg_start, seg_end = offset, offset + seg.size - 1
        offset += seg.size
        if seg_end < start or seg.size == 0:
            continue
        if seg_start > end:
            break
        lo = max(start, seg_start) - seg_start
        remaining = min(end, seg_end) - seg_start - lo + 1
        with open(files.path(seg.blob), "rb", buffering=0) as f:
            f.seek(lo)
            while remaining > 0:
                data = f.read(min(chunk, remaining))
                if not data:
                    raise OSError(f"blob {seg.blob} is shorter than its recorded size")
                remaining -= len(data)
                yield data


class SegmentReader(io.RawIOBase):
    """A seekable, read-only file over an object's segments. Unpins them on close."""

    def __init__(self, files: BlobFiles, segments: Sequence[Segment], pinned: bool = True) -> None:
        super().__init__()
        self._files = files
        self._segments = tuple(segments)
        self._starts: list[int] = []
        total = 0
        for s in self._segments:
            self._starts.append(total)
            total += s.size
        self._size = total
        self._pos = 0
        self._pinned = pinned
        self._open: tuple[int, BinaryIO] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._pos >= self._size:
            return 0
        index = self._segment_at(self._pos)
        within = self._pos - self._starts[index]
        f = self._file(index)
        f.seek(within)
        want = min(len(buffer), self._segments[index].size - within)
        n = f.readinto(memoryview(buffer)[:want])  # type: ignore[attr-defined]
        if not n:
            raise OSError("blob is shorter than its recorded size")
        self._pos += n
        return int(n)

    def _segment_at(self, pos: int) -> int:
        import bisect

        i = bisect.bisect_right(self._starts, pos) - 1
        while self._segments[i].size == 0 or pos >= self._starts[i] + self._segments[i].size:
            i += 1
        return i

    def _file(self, index: int) -> BinaryIO:
        if self._open is None or self._open[0] != index:
            if self._open is not None:
                self._open[1].close()
            path = self._files.path(self._segments[index].blob)
            self._open = (index, open(path, "rb", buffering=0))  # noqa: SIM115
        return self._open[1]

    def close(self) -> None:
        if not self.closed:
            if self._open is not None:
                self._open[1].close()
                self._open = None
            if self._pinned:
                self._files.unpin([s.blob for s in self._segments])
                self._pinned = False
        super().close()
