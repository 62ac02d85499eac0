"""Batch transform data capture (`DataCaptureConfig`), as SageMaker documents it for Model Monitor:

* **Manifests, not copies.** When the job completes, `<DestinationS3Uri>/input/yyyy/mm/dd/hh/` and
  `.../output/yyyy/mm/dd/hh/` (the hour the transform started, UTC) each get one manifest: a JSON
  list whose first element is `{"prefix": "s3://..."}` and the rest the objects' keys relative to it,
  the inputs the job read and the `.out` objects it wrote. The manifest's file name is Kiln's
  (`<job name>.json`): the documentation does not give one.
* **`GenerateInferenceId`.** Each output record gets an inference id (a random UUID) and the
  transform start time (`2022-08-30T00:49:15Z`): CSV records gain two columns; a JSON or JSON Lines
  record that is an object gains `SageMakerInferenceId` and `SageMakerInferenceTime`, any other
  value is wrapped as `{"output": value, ...}`. Records are the output's lines; a JSON document that
  spans lines is one record. Only CSV, JSON and JSON Lines outputs (by `Accept`, else the input's
  `ContentType`) can carry them; CreateTransformJob refuses the flag for anything else.
* `KmsKeyId` is accepted and echoed; nothing is encrypted.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from kiln.core.errors import InvalidInput
from kiln.services.s3.store import ObjectStore, parse_uri
from kiln.services.transform.dataproc import ProcessingError
from kiln.services.transform.inputs import InputFile, output_location
from kiln.serving.codecs import base_type

FORMATS = {"text/csv": "csv", "application/json": "json", "application/jsonlines": "json",
           "application/x-jsonlines": "json"}


def id_format(request: dict[str, Any]) -> str:
    """'' when the job appends no inference ids, else 'csv' or 'json'. Raises InvalidInput."""
    capture = request.get("DataCaptureConfig") or {}
    if not capture.get("GenerateInferenceId"):
        return ""
    media = base_type(request.get("TransformOutput", {}).get("Accept")
                      or request["TransformInput"].get("ContentType"))
    fmt = FORMATS.get(media or "")
    if fmt is None:
        raise InvalidInput(f"DataCaptureConfig.GenerateInferenceId supports CSV, JSON and JSON Lines outputs; the "
                           f"output of this job is {media or 'of no declared type'} (set TransformOutput.Accept "
                           "to text/csv, application/json or application/jsonlines).")  # unverified
    return fmt


def check(request: dict[str, Any]) -> None:
    capture = request.get("DataCaptureConfig")
    if not capture:
        return
    uri = capture["DestinationS3Uri"]
    if not uri.startswith("s3://") or len(uri) <= 5 or uri[5] == "/":
        raise InvalidInput(f"Value '{uri}' at 'dataCaptureConfig.destinationS3Uri' failed to satisfy constraint: "
                           "Member must be an s3:// URI that names a bucket (Kiln's object store).")
    id_format(request)


def inference_time(start: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))


def append_ids(data: bytes, fmt: str, when: str) -> bytes:
    """`data` (one response's records) with an inference id and `when` on each record."""
    lines = data.split(b"\n")
    if fmt == "csv":
        stamp = f",{when}".encode()
        return b"\n".join(line.rstrip(b"\r") + b"," + str(uuid.uuid4()).encode() + stamp if line.strip() else line
                          for line in lines)
    try:
        records = [(json.loads(line) if line.strip() else None) for line in lines]
    except ValueError:  # a document that spans lines: one record
        try:
            whole = json.loads(data)
        except ValueError:
            raise ProcessingError("GenerateInferenceId: the model's output is not JSON: "
                                  f"{data[:80].decode('utf-8', 'replace')!r}") from None
        return _json_record(whole, when) + (b"\n" if data.endswith(b"\n") else b"")
    return b"\n".join(_json_record(r, when) if line.strip() else line
                      for r, line in zip(records, lines, strict=True))


def _json_record(value: Any, when: str) -> bytes:
    record = dict(value) if isinstance(value, dict) else {"output": value}  # unverified: how AWS wraps a non-object
    record["SageMakerInferenceId"] = str(uuid.uuid4())
    record["SageMakerInferenceTime"] = when
    return json.dumps(record, separators=(", ", ": ")).encode()


def write_manifests(objects: ObjectStore, capture: dict[str, Any], job_name: str, start: float,
                    files: list[InputFile], output_path: str) -> None:
    """The input and output manifests of a completed job (blocking: call from a worker thread)."""
    bucket, prefix = parse_uri(capture["DestinationS3Uri"])
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime(start))
    inputs = [{"prefix": _common_prefix([f"s3://{f.bucket}/{f.key[:len(f.key) - len(f.relative)]}"
                                         for f in files])}]
    base = inputs[0]["prefix"]
    manifest_in: list[Any] = [*inputs, *(f"s3://{f.bucket}/{f.key}"[len(base):] for f in files)]
    out_bucket, out_prefix = parse_uri(output_path)
    if out_prefix and not out_prefix.endswith("/"):
        out_prefix += "/"
    out_base = f"s3://{out_bucket}/{out_prefix}"
    manifest_out: list[Any] = [{"prefix": out_base}]
    for f in files:
        b, key = output_location(output_path, f.relative)
        manifest_out.append(f"s3://{b}/{key}"[len(out_base):])
    for side, doc in (("input", manifest_in), ("output", manifest_out)):
        objects.put_bytes(bucket, f"{prefix}{side}/{hour}/{job_name}.json", json.dumps(doc).encode(),
                          content_type="application/json")


def _common_prefix(prefixes: list[str]) -> str:
    """The longest shared folder of the inputs' prefixes (they differ only for unusual manifests)."""
    first = prefixes[0]
    if all(p == first for p in prefixes):
        return first
    shared = first
    for p in prefixes[1:]:
        while not p.startswith(shared):
            shared = shared[:shared.rstrip("/").rfind("/") + 1]
    return shared
