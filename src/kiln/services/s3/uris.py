"""`s3://` URIs and whole-prefix transfers between the object store and local directories.

`download_prefix` follows SageMaker's `S3Prefix` channel semantics: every key that starts with the
prefix (a plain string prefix, not a directory) is fetched, and each file keeps the part of its key
after the prefix's last "/". Keys never become paths unchecked: a key whose remainder would leave
the destination directory ("..", absolute) is refused.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from kiln.core.errors import InvalidInput

if TYPE_CHECKING:
    from kiln.services.s3.models import ObjectInfo
    from kiln.services.s3.store import ObjectStore


def parse_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key/x` -> ("bucket", "key/x"); `s3://bucket` -> ("bucket", "").

    Raises:
        InvalidInput: not an s3:// URI with a bucket.
    """
    if not uri.startswith("s3://"):
        raise InvalidInput(f"{uri!r} is not an s3:// URI.")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket:
        raise InvalidInput(f"{uri!r} names no bucket.")
    return bucket, key


def _safe_relative(rel: str) -> PurePosixPath:
    path = PurePosixPath(rel)
    if path.is_absolute() or any(part in ("..", "") for part in rel.split("/")) or "\x00" in rel:
        raise InvalidInput(f"Object key part {rel!r} cannot be a file name inside the destination.")
    return path


def download_prefix(store: ObjectStore, uri: str, dest: Path) -> list[Path]:
    """Download every object under an `s3://bucket/prefix` into `dest`. Returns the files written.

    Keys ending in "/" (folder markers) are skipped. `s3://b/data/train` fetches `data/train.csv` as
    `train.csv` and `data/train/a.csv` as `train/a.csv`.

    Raises:
        NotFound: the bucket does not exist.
        InvalidInput: a key cannot be mapped to a file inside `dest`.
    """
    bucket, prefix = parse_uri(uri)
    cut = prefix.rfind("/") + 1
    written: list[Path] = []
    dest.mkdir(parents=True, exist_ok=True)
    for info in store.list(bucket, prefix):
        if info.key.endswith("/"):
            continue
        rel = _safe_relative(info.key[cut:])
        target = dest.joinpath(*rel.parts)
        store.download_to(bucket, info.key, target)
        written.append(target)
    return written


def upload_dir(store: ObjectStore, src: Path, uri: str) -> list[ObjectInfo]:
    """Upload every file under `src` to `s3://bucket/prefix/<relative path>`, in sorted order."""
    bucket, prefix = parse_uri(uri)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    out: list[ObjectInfo] = []
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        key = prefix + path.relative_to(src).as_posix()
        out.append(store.put_file(bucket, key, path))
    return out
