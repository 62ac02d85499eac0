"""Data capture: sampled request/response pairs written as SageMaker's JSON Lines capture records to
`<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<id>.jsonl`.

The request path only decides whether to sample and appends a tuple to a list (`offer`); encoding
and writing happen in a worker thread when the writer flushes (every few seconds, on endpoint
deletion and on clean shutdown), so capture does not slow invocations.

One record (field names as SageMaker Model Monitor reads them):
{"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1,2",
 "encoding": "CSV"}, "endpointOutput": {...,"mode": "OUTPUT",...}}, "eventMetadata": {"eventId": "<uuid>",
 "inferenceId": "<InferenceId, when sent>", "inferenceTime": "2026-11-26T20:03:15Z"}, "eventVersion": "0"}
Encoding: CSV or JSON when the content type is listed in CaptureContentTypeHeader, else BASE64.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from kiln.services.s3.store import ObjectStore, parse_uri

LOG = logging.getLogger(__name__)

# endpoint, variant, time, input body, input type, output body, output type, inference id
Pending = tuple[str, str, float, bytes, str, bytes, str, str | None]


def _base(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


class CaptureSink:
    """One endpoint's capture settings plus its buffer of pending records. Thread-safe `drain`."""

    def __init__(self, endpoint: str, config: dict[str, Any], account_id: str, region: str) -> None:
        self.endpoint = endpoint
        self.account_id = account_id
        self.region = region
        self.percent = float(config.get("InitialSamplingPercentage", 0))
        modes = {o.get("CaptureMode") for o in config.get("CaptureOptions") or []}
        self.capture_input = bool(modes & {"Input", "InputAndOutput"})
        self.capture_output = bool(modes & {"Output", "InputAndOutput"})
        headers = config.get("CaptureContentTypeHeader") or {}
        self.csv = {_base(c) for c in headers.get("CsvContentTypes") or []}
        self.json = {_base(c) for c in headers.get("JsonContentTypes") or []}
        self.bucket, prefix = parse_uri(config["DestinationS3Uri"])
        self.prefix = prefix.strip("/")
        self._pending: list[Pending] = []
        self._lock = threading.Lock()

    def offer(self, variant: str, now: float, body: bytes, content_type: str, output: bytes, output_type: str,
              inference_id: str | None) -> None:
        """Request path: sample, then queue the raw bytes (no encoding here)."""
        if self.percent < 100 and random.random() * 100 >= self.percent:
            return
        item = (self.endpoint, variant, now, body, content_type, output, output_type, inference_id)
        with self._lock:
            self._pending.append(item)

    def drain(self) -> list[Pending]:
        with self._lock:
            out, self._pending = self._pending, []
        return out

    def _encoding(self, content_type: str) -> str:
        base = _base(content_type)
        if base in self.csv:
            return "CSV"
        if base in self.json:
            return "JSON"
        return "BASE64"

    def _side(self, body: bytes, content_type: str, mode: str) -> dict[str, Any]:
        encoding = self._encoding(content_type)
        if encoding == "BASE64":
            data = base64.b64encode(body).decode()
        else:
            try:
                data = body.decode("utf-8")
            except UnicodeDecodeError:
                encoding, data = "BASE64", base64.b64encode(body).decode()
        return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}

    def record(self, item: Pending) -> dict[str, Any]:
        _, _, ts, body, ctype, output, otype, inference_id = item
        capture: dict[str, Any] = {}
        if self.capture_input:
            capture["endpointInput"] = self._side(body, ctype, "INPUT")
        if self.capture_output:
            capture["endpointOutput"] = self._side(output, otype, "OUTPUT")
        meta: dict[str, Any] = {"eventId": str(uuid.uuid4())}
        if inference_id:
            meta["inferenceId"] = inference_id
        meta["inferenceTime"] = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"captureData": capture, "eventMetadata": meta, "eventVersion": "0"}


class CaptureWriter:
    """Writes what sinks have buffered. `flush` is blocking (object store I/O): call it in a thread."""

    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects
        self.sinks: dict[str, CaptureSink] = {}  # endpoint ARN -> sink
        self._lock = threading.Lock()  # one flush at a time
        self.written = 0

    def flush(self, only: str | None = None) -> int:
        with self._lock:
            n = 0
            for arn, sink in list(self.sinks.items()):
                if only is None or arn == only:
                    n += self._write(sink, sink.drain())
            self.written += n
            return n

    def _write(self, sink: CaptureSink, items: list[Pending]) -> int:
        if not items:
            return 0
        groups: dict[tuple[str, str], list[str]] = {}
        for item in items:
            hour = datetime.fromtimestamp(item[2], UTC).strftime("%Y/%m/%d/%H")
            groups.setdefault((item[1], hour), []).append(json.dumps(sink.record(item), separators=(",", ":")))
        try:
            self.objects.ensure_bucket(sink.bucket, sink.account_id, sink.region)
        except Exception:
            LOG.exception("data capture: cannot use bucket %s", sink.bucket)
            return 0
        for (variant, hour), lines in groups.items():
            now = datetime.now(UTC)
            name = f"{now:%M-%S}-{now.microsecond // 1000:03d}-{uuid.uuid4().hex[:8]}.jsonl"  # unverified naming
            key = "/".join(p for p in (sink.prefix, sink.endpoint, variant, hour, name) if p)
            self.objects.put_bytes(sink.bucket, key, ("\n".join(lines) + "\n").encode(),
                                   content_type="application/jsonlines")
        return len(items)
