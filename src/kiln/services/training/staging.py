"""Moving bytes between the object store and a job's hosts: input channels, source code,
requirements, checkpoints, and the model/output archives. Blocking I/O: call from a worker thread."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiln.core.errors import NotFound
from kiln.services.s3.store import ObjectStore, parse_uri

LOG = logging.getLogger(__name__)


class StagingError(Exception):
    """Fails the job with this message as its FailureReason."""


def _relative(prefix: str, key: str) -> str:
    """SageMaker's S3Prefix layout: the key below the prefix's last '/'."""
    cut = prefix.rfind("/") + 1
    return key[cut:]


def _keys_for(store: ObjectStore, uri: str, data_type: str) -> list[tuple[str, str, str]]:
    """(bucket, key, relative path) for a channel's data source."""
    bucket, prefix = parse_uri(uri)
    if not store.bucket_exists(bucket):
        raise StagingError(_missing(uri, bucket))
    if data_type in ("ManifestFile", "AugmentedManifestFile"):
        try:
            manifest = json.loads(store.read_bytes(bucket, prefix))
        except NotFound as exc:
            raise StagingError(f"ClientError: Data download failed: manifest file {uri} does not exist.") from exc
        except ValueError as exc:
            raise StagingError(f"ClientError: Data download failed: manifest file {uri} is not JSON.") from exc
        if data_type == "AugmentedManifestFile":
            raise StagingError("ClientError: AugmentedManifestFile input is not supported by Kiln.")
        base = manifest[0]["prefix"]
        mb, mp = parse_uri(base)
        return [(mb, mp + rel, rel) for rel in manifest[1:]]
    found = [(bucket, o.key, _relative(prefix, o.key)) for o in store.list(bucket, prefix)
             if not o.key.endswith("/")]
    if not found:
        raise StagingError(_missing(uri, bucket))
    return found


def _missing(uri: str, bucket: str) -> str:
    return (f'ClientError: Data download failed:No S3 objects found under S3 URL "{uri}" given in input data '
            f"source. Please ensure that the bucket exists in the selected region, that objects exist under "
            f'that S3 prefix, and that the role has "s3:ListBucket" permissions on bucket "{bucket}".')


def stage_channels(store: ObjectStore, channels: list[dict[str, Any]], host_roots: list[Path],
                   log: Callable[[str], None]) -> None:
    """Copy each channel's objects into every host's input/data/<channel> (sharded when asked)."""
    for channel in channels:
        name = channel["ChannelName"]
        source = channel["DataSource"].get("S3DataSource")
        if source is None:
            raise StagingError(f"ClientError: channel {name}: only S3DataSource is supported by Kiln.")
        mode = channel.get("InputMode") or "File"
        if mode != "File":
            log(f"Kiln: channel {name} asks for {mode} input mode; Kiln stages it as File mode "
                f"(fully downloaded before the script starts).")
        keys = _keys_for(store, source["S3Uri"], source.get("S3DataType", "S3Prefix"))
        sharded = source.get("S3DataDistributionType") == "ShardedByS3Key"
        for i, root in enumerate(host_roots):
            mine = keys[i :: len(host_roots)] if sharded else keys
            dest_dir = root / "input" / "data" / name
            for bucket, key, rel in mine:
                dest = dest_dir / rel
                if not dest.resolve().is_relative_to(dest_dir.resolve()):
                    raise StagingError(f"ClientError: object key {key!r} escapes the channel directory.")
                dest.parent.mkdir(parents=True, exist_ok=True)
                store.download_to(bucket, key, dest)
        total = sum(store.head(b, k).size for b, k, _ in keys[:1000])
        log(f"Kiln: channel {name}: {len(keys)} object(s) staged"
            f"{' (sharded by key)' if sharded else ''}, {total / 1e6:.1f} MB")


def stage_code(store: ObjectStore, submit_dir: str, code_dirs: list[Path]) -> None:
    """Unpack `sagemaker_submit_directory` (an s3:// sourcedir.tar.gz) into each host's code dir."""
    try:
        bucket, key = parse_uri(submit_dir)
        data = store.read_bytes(bucket, key)
    except (NotFound, ValueError) as exc:
        raise StagingError(f"ClientError: cannot read the source directory archive {submit_dir}.") from exc
    for code in code_dirs:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            tar.extractall(code, filter="data")


_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def _unsatisfied(lines: list[str]) -> list[str]:
    """Requirement lines the runtime does not already satisfy (options and URLs always pass)."""
    import importlib.metadata

    from packaging.requirements import InvalidRequirement, Requirement

    out: list[str] = []
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            out.append(line)
            continue
        try:
            have = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            out.append(line)
            continue
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            out.append(line)
    return out


def install_requirements(requirements: Path, cache_root: Path, python: str,
                         log: Callable[[str], None]) -> Path | None:
    """Install what `requirements.txt` needs beyond the runtime into a directory keyed by the file's
    content hash (reused by every later job with the same file). Returns the dir for PYTHONPATH."""
    text = requirements.read_text()
    digest = hashlib.sha256(f"{python}\n{text}".encode()).hexdigest()[:16]
    target = cache_root / digest
    if target.exists():
        log(f"Kiln: requirements.txt already installed (cache {digest}); nothing to install.")
        return target
    needed = _unsatisfied(text.splitlines())
    if not needed:
        log("Kiln: every package in requirements.txt is already in the runtime; nothing to install.")
        target.mkdir(parents=True, exist_ok=True)
        return target
    log(f"Kiln: installing {len(needed)} requirement(s): {', '.join(needed)}")
    tmp = cache_root / f".{digest}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    proc = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           "--target", str(tmp), *needed], capture_output=True, text=True)
    for line in (proc.stdout + proc.stderr).splitlines()[-20:]:
        if "WARNING: Location" not in line:
            log(line)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise StagingError(f"ClientError: pip install -r requirements.txt failed (exit {proc.returncode}).")
    tmp.rename(target)
    return target


def make_archive(sources: list[Path]) -> Path:
    """tar.gz the merged contents of `sources` (first wins on name clashes) next to the first."""
    out = sources[0].parent / f".{sources[0].name}.tar.gz"
    seen: set[str] = set()
    with tarfile.open(out, "w:gz", compresslevel=1) as tar:
        for src in sources:
            for path in sorted(src.rglob("*")):
                rel = path.relative_to(src).as_posix()
                if rel in seen:
                    continue
                seen.add(rel)
                tar.add(path, arcname=rel, recursive=False)
    return out


def python_executable() -> str:
    return sys.executable
