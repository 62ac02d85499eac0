"""A model's files on this machine: `ModelDataUrl` (model.tar.gz) unpacked once per model into a
cache directory that every replica of the model shares, an `s3://` `SAGEMAKER_SUBMIT_DIRECTORY`
(sourcedir.tar.gz, for models the SDK did not repack) unpacked beside it, and `code/requirements.txt`
installed into the shared requirements cache. Blocking I/O: call from a worker thread.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.core.errors import DomainError, NotFound
from kiln.services.s3.store import ObjectStore, download_prefix, parse_uri
from kiln.services.training import staging

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class ArtifactError(Exception):
    """The model's files cannot be prepared; the message becomes the endpoint's FailureReason."""


@dataclass(frozen=True, slots=True)
class PreparedModel:
    root: Path  # cache dir: model/ (and code/ when the submit dir was an s3:// archive)
    model_dir: Path
    code_dir: Path | None  # the unpacked s3:// submit directory, when there was one
    extra_path: tuple[str, ...]  # requirements install dirs for PYTHONPATH


def _lock(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _download_failed(url: str) -> ArtifactError:
    return ArtifactError(f'Failed to download model data for container "container_1" from URL: "{url}". Please '
                         "ensure that there is an object located at the URL and that the role passed to CreateModel "
                         "has permissions to download the object.")


def model_data(container: dict[str, Any]) -> tuple[str | None, bool]:
    """(URI, compressed) of a container's model data."""
    if container.get("ModelDataUrl"):
        return container["ModelDataUrl"], True
    source = (container.get("ModelDataSource") or {}).get("S3DataSource")
    if source:
        return source["S3Uri"], source.get("CompressionType", "Gzip") != "None"
    return None, True


def prepare(objects: ObjectStore, cache_root: Path, key_parts: list[str], container: dict[str, Any],
            python: str, log: Callable[[str], None]) -> PreparedModel:
    """Unpack the model once (per model identity `key_parts` and the artifacts' current versions);
    later calls reuse the cache. An artifact overwritten in the object store is fetched again."""
    url, compressed = model_data(container)
    env = container.get("Environment") or {}
    submit_dir = env.get("SAGEMAKER_SUBMIT_DIRECTORY")
    versions = [_version(objects, url, compressed) if url else "",
                _version(objects, submit_dir, True) if str(submit_dir or "").startswith("s3://") else ""]
    ident = json.dumps([*key_parts, url, submit_dir, versions], sort_keys=True)
    digest = hashlib.sha256(ident.encode()).hexdigest()[:20]
    root = cache_root / digest
    with _lock(digest):
        if not (root / ".ready").exists():
            shutil.rmtree(root, ignore_errors=True)
            (root / "model").mkdir(parents=True)
            if url:
                _fetch(objects, url, compressed, root / "model")
            submit = env.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
            if submit.startswith("s3://"):
                try:
                    staging.stage_code(objects, submit, [root / "code"])
                except staging.StagingError as exc:
                    raise ArtifactError(str(exc)) from exc
            (root / ".ready").write_text("ok")
            log(f"Kiln: model data from {url or '(none)'} unpacked")
    code = root / "code" if (root / "code").is_dir() else None
    extra: list[str] = []
    for candidate in (code, root / "model" / "code"):
        req = candidate / "requirements.txt" if candidate else None
        if req is not None and req.exists():
            try:
                target = staging.install_requirements(req, cache_root.parent / "requirements", python, log)
            except staging.StagingError as exc:
                raise ArtifactError(str(exc)) from exc
            if target is not None:
                extra.append(str(target))
            break
    return PreparedModel(root, root / "model", code, tuple(extra))


def _version(objects: ObjectStore, url: str, single: bool) -> str:
    """What changes when the artifact at `url` does: its ETag, or the keys and ETags under a prefix.
    '' when it cannot be read (the fetch then reports why)."""
    try:
        bucket, key = parse_uri(url)
        if single:
            return objects.head(bucket, key).etag
        base = key if key.endswith("/") else key + "/"
        listing = "\n".join(f"{o.key}\t{o.etag}" for o in objects.list(bucket, base))
        return hashlib.sha256(listing.encode()).hexdigest()
    except (NotFound, DomainError, ValueError):
        return ""


def _fetch(objects: ObjectStore, url: str, compressed: bool, dest: Path) -> None:
    try:
        if not compressed:
            download_prefix(objects, url if url.endswith("/") else url + "/", dest)
            return
        bucket, key = parse_uri(url)
        archive = dest.parent / ".model.tar.gz"
        objects.download_to(bucket, key, archive)
    except (NotFound, DomainError, ValueError) as exc:
        raise _download_failed(url) from exc
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise ArtifactError(f"Failed to extract model data archive {url}: {exc}") from exc
    finally:
        archive.unlink(missing_ok=True)
