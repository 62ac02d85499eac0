"""The files behind a catalog table, readable in place by DuckDB.

An object written in one piece is one blob file on disk: it is pinned (so an overwrite or delete
cannot pull it away mid-query) and read where it lies. A multipart object (several segments) is
first copied to a temporary file. `close()` unpins everything and removes the copies.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path, PurePosixPath

from kiln.core.errors import NotFound
from kiln.services.s3.store import ObjectStore, parse_uri


class PinnedFiles:
    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects
        self._pinned: list[str] = []
        self._tmp: Path | None = None
        self.bytes = 0

    def __enter__(self) -> PinnedFiles:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def under(self, location: str) -> list[str]:
        """Local paths of the data files under an `s3://` location (hidden `_x`/`.x` files skipped)."""
        bucket, prefix = parse_uri(location)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        paths: list[str] = []
        try:
            infos = [i for i in self.objects.list(bucket, prefix) if i.size > 0 and not i.key.endswith("/")]
        except NotFound:
            return []
        for info in infos:
            if any(part.startswith(("_", ".")) for part in PurePosixPath(info.key[len(prefix):]).parts):
                continue
            try:
                record = self.objects.pinned(bucket, info.key)
            except NotFound:
                continue  # deleted since listed
            blobs = [s.blob for s in record.segments]
            self.bytes += record.info.size
            if len(blobs) == 1:
                self._pinned += blobs
                paths.append(str(self.objects.files.path(blobs[0])))
            else:
                paths.append(self._materialize(record))  # the reader unpins when closed
        return paths

    def _materialize(self, record: object) -> str:
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="kiln-athena-"))
        dest = self._tmp / f"{len(list(self._tmp.iterdir()))}.bin"
        with self.objects.reader(record) as src, open(dest, "wb") as out:  # type: ignore[arg-type]
            shutil.copyfileobj(src, out, 1024 * 1024)
        return str(dest)

    def close(self) -> None:
        if self._pinned:
            self.objects.files.unpin(self._pinned)
            self._pinned = []
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
