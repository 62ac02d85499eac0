"""CheckpointConfig: restore `S3Uri` into the checkpoint path before the script starts, and upload
what the script writes there continuously, at interruption and at the end. Blocking I/O."""

from __future__ import annotations

import logging
from pathlib import Path

from kiln.services.s3.store import ObjectStore, parse_uri

LOG = logging.getLogger(__name__)


class CheckpointSync:
    def __init__(self, store: ObjectStore, uri: str, dirs: list[Path], account_id: str, region: str) -> None:
        self.store = store
        self.owner = (account_id, region)
        self.bucket, prefix = parse_uri(uri)
        self.prefix = prefix if (not prefix or prefix.endswith("/")) else prefix + "/"
        self.dirs = dirs
        self._seen: dict[tuple[int, str], tuple[int, int]] = {}

    def restore(self) -> int:
        """Download every checkpoint object into each host's directory. Returns files restored."""
        count = 0
        if not self.store.bucket_exists(self.bucket):
            return 0
        objects = [o for o in self.store.list(self.bucket, self.prefix) if not o.key.endswith("/")]
        for i, d in enumerate(self.dirs):
            d.mkdir(parents=True, exist_ok=True)
            for obj in objects:
                rel = obj.key[len(self.prefix):]
                dest = d / rel
                if not dest.resolve().is_relative_to(d.resolve()):
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                self.store.download_to(self.bucket, obj.key, dest)
                st = dest.stat()
                self._seen[(i, rel)] = (st.st_mtime_ns, st.st_size)
                count += 1
        return count

    def sync(self) -> int:
        """Upload files that are new or changed since the last sync. Returns files uploaded."""
        uploaded = 0
        self.store.ensure_bucket(self.bucket, *self.owner)
        for i, d in enumerate(self.dirs):
            if not d.exists():
                continue
            for path in d.rglob("*"):
                if not path.is_file() or (path.name.startswith(".") and path.name.endswith(".tmp")):
                    continue
                rel = path.relative_to(d).as_posix()
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                sig = (st.st_mtime_ns, st.st_size)
                if self._seen.get((i, rel)) == sig:
                    continue
                try:
                    self.store.put_file(self.bucket, self.prefix + rel, path)
                except FileNotFoundError:
                    continue
                self._seen[(i, rel)] = sig
                uploaded += 1
        return uploaded
