"""A multi-model endpoint's artifacts on this machine: `<ModelDataUrl prefix><TargetModel>` downloaded
from the object store and unpacked once into the endpoint's model cache, which every replica of the
endpoint sees as `/opt/ml/models/<model name>/model`. The model name is an opaque digest of the
target (as SageMaker's is), so any relative path is a safe directory name. Blocking I/O: call from a
worker thread.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import uuid
from pathlib import Path

from kiln.core.errors import DomainError, NotFound
from kiln.services.s3.store import ObjectStore
from kiln.services.s3.uris import parse_uri


class UnknownTargetModel(Exception):
    """No artifact at the prefix + target (the service's ValidationError)."""

    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(f"Failed to download model data(bucket: {bucket}, key: {key}). Please ensure that there is "
                         "an object located at the URL and that the role passed to CreateModel has permissions to "
                         "download the model.")  # as the service words it (recalled; unverified)


class BadArtifact(Exception):
    """The artifact exists but is not a readable model archive."""


def model_name(target: str) -> str:
    return hashlib.sha256(target.encode()).hexdigest()[:32]


def endpoint_dir(cache_root: Path, account: str, region: str, endpoint: str, prefix: str) -> Path:
    digest = hashlib.sha256(f"{account}\0{region}\0{endpoint}\0{prefix}".encode()).hexdigest()[:20]
    return cache_root / digest


def artifact_key(prefix: str, target: str) -> tuple[str, str]:
    """(bucket, key) of a target model: the prefix joined with the relative path."""
    base = prefix if prefix.endswith("/") else prefix + "/"
    bucket, key = parse_uri(base + target)
    return bucket, key


def fetch(objects: ObjectStore, prefix: str, target: str, dest: Path) -> int:
    """Unpack the target's archive into `dest/model` (atomically: a rename at the end). Returns the
    archive's size. Raises UnknownTargetModel, BadArtifact."""
    bucket, key = artifact_key(prefix, target)
    try:
        info = objects.head(bucket, key)
    except (NotFound, DomainError) as exc:
        raise UnknownTargetModel(bucket, key) from exc
    dest.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    archive = dest / f".archive.{token}"
    staging = dest / f".model.{token}"
    try:
        try:
            objects.download_to(bucket, key, archive)
        except (NotFound, DomainError) as exc:  # deleted between the head and the read
            raise UnknownTargetModel(bucket, key) from exc
        staging.mkdir()
        try:
            with tarfile.open(archive, mode="r:*") as tar:
                tar.extractall(staging, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BadArtifact(f"The model artifact s3://{bucket}/{key} is not a readable tar.gz archive: {exc}") \
                from exc
        final = dest / "model"
        if final.exists():  # another thread finished first: keep theirs
            shutil.rmtree(staging, ignore_errors=True)
        else:
            staging.rename(final)
        return info.size
    finally:
        archive.unlink(missing_ok=True)
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def remove(dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
