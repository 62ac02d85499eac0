"""Where a transform job's records come from and where its outputs go.

`S3Prefix`: every object whose key starts with the prefix (folder markers skipped); `ManifestFile`:
a JSON list whose first element is `{"prefix": "s3://..."}` and the rest keys relative to it. An
input's relative name is its key below the S3Uri when the URI names a folder (`s3://b/in` or
`s3://b/in/` -> `in/a.csv` is `a.csv`, `in/sub/b.csv` is `sub/b.csv`), else its key below the URI's
last "/" (`s3://b/in/test.csv` -> `test.csv`); its output is `<S3OutputPath>/<relative name>.out`.
Blocking I/O: call from a worker thread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from kiln.core.errors import DomainError, NotFound
from kiln.services.s3.store import ObjectStore, parse_uri


class InputError(Exception):
    """The job's input cannot be read; the message is its FailureReason."""


@dataclass(frozen=True, slots=True)
class InputFile:
    bucket: str
    key: str
    relative: str
    size: int

    @property
    def label(self) -> str:
        """How SageMaker's data log names the object: `bucket/key`."""
        return f"{self.bucket}/{self.key}"


def _missing(uri: str, bucket: str) -> str:
    return (f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. Please ensure that '
            f"the bucket exists in the selected region, that objects exist under that S3 prefix, and that the role "
            f'has "s3:ListBucket" permissions on bucket "{bucket}".')


def list_inputs(objects: ObjectStore, uri: str, data_type: str) -> list[InputFile]:
    bucket, prefix = parse_uri(uri)
    if not objects.bucket_exists(bucket):
        raise InputError(_missing(uri, bucket))
    if data_type == "ManifestFile":
        return _manifest(objects, uri, bucket, prefix)
    found = [InputFile(bucket, o.key, relative_name(prefix, o.key), o.size) for o in objects.list(bucket, prefix)
             if not o.key.endswith("/")]
    if not found:
        raise InputError(_missing(uri, bucket))
    return found


def relative_name(prefix: str, key: str) -> str:
    rest = key[len(prefix):]
    if prefix and (prefix.endswith("/") or rest.startswith("/")) and rest.strip("/"):
        return rest.lstrip("/")
    return key[prefix.rfind("/") + 1:]


def _manifest(objects: ObjectStore, uri: str, bucket: str, key: str) -> list[InputFile]:
    try:
        doc = json.loads(objects.read_bytes(bucket, key))
    except NotFound:
        raise InputError(f"ClientError: The manifest file {uri} does not exist.") from None
    except ValueError:
        raise InputError(f"ClientError: The manifest file {uri} is not valid JSON.") from None
    if (not isinstance(doc, list) or not doc or not isinstance(doc[0], dict) or "prefix" not in doc[0]
            or not all(isinstance(r, str) for r in doc[1:])):
        raise InputError(f'ClientError: The manifest file {uri} must be a JSON list: [{{"prefix": "s3://..."}}, '
                         '"relative/key", ...].')
    base_bucket, base = parse_uri(doc[0]["prefix"])
    out = []
    for rel in doc[1:]:
        try:
            info = objects.head(base_bucket, base + rel)
        except (NotFound, DomainError):
            raise InputError(f"ClientError: The manifest file {uri} lists s3://{base_bucket}/{base}{rel}, which "
                             "does not exist.") from None
        out.append(InputFile(base_bucket, base + rel, rel, info.size))
    if not out:
        raise InputError(f"ClientError: The manifest file {uri} lists no objects.")
    return out


def output_location(output_path: str, relative: str) -> tuple[str, str]:
    """(bucket, key) of an input's `.out` object."""
    bucket, prefix = parse_uri(output_path)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, f"{prefix}{relative}.out"


def spread(files: list[InputFile], instances: int) -> list[list[InputFile]]:
    """Files over instances: each file goes to the instance with the fewest bytes so far (largest
    first), so instances finish together; every instance's files stay in key order."""
    shares: list[list[InputFile]] = [[] for _ in range(instances)]
    load = [0] * instances
    for f in sorted(files, key=lambda f: (-f.size, f.key)):
        i = min(range(instances), key=lambda k: (load[k], k))
        shares[i].append(f)
        load[i] += f.size
    return [sorted(s, key=lambda f: f.key) for s in shares]
