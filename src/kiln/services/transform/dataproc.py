"""`DataProcessing` for one batch: `InputFilter` before the request, then `JoinSource=Input` and
`OutputFilter` on each record's inference (SageMaker's "associate prediction results with input
records").

* CSV (`text/csv`): a record is the JSON array of its fields; a joined record is the input's fields
  followed by the inference's; the result is written back as one CSV line.
* JSON / JSON Lines: the inference is parsed as JSON when it is JSON (else kept as a string); a
  joined record is the input object plus `SageMakerOutput`, or `{"SageMakerInput": ..,
  "SageMakerOutput": ..}` when the input is not an object.

A multi-record response is split into one inference per record by lines, or as a JSON array of the
same length; any other count fails the record ("the number of inferences does not match").
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from kiln.services.transform import jsonpath
from kiln.serving.codecs import base_type


class ProcessingError(Exception):
    """A record cannot be filtered or joined; the message goes to the job's log."""


def _csv_fields(text: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0] if rows else []


def _csv_line(fields: Any) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields if isinstance(fields, list) else [fields])
    return buf.getvalue()


class Processor:
    def __init__(self, content_type: str | None, accept: str | None, input_filter: str, output_filter: str,
                 join_input: bool) -> None:
        self.csv_in = base_type(content_type) == "text/csv"
        self.csv_out = base_type(accept) == "text/csv" if accept else self.csv_in
        self.input_path = None if jsonpath.is_identity(input_filter) else jsonpath.parse(input_filter)
        self.output_path = None if jsonpath.is_identity(output_filter) else jsonpath.parse(output_filter)
        self.join = join_input

    def _parse(self, record: bytes, as_csv: bool) -> Any:
        text = record.decode("utf-8")
        if as_csv:
            return _csv_fields(text)
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ProcessingError(f"Record is not valid JSON: {exc}") from None

    def _dump(self, value: Any, as_csv: bool) -> bytes:
        if as_csv:
            return _csv_line(value).encode()
        return json.dumps(value, separators=(",", ":")).encode()

    def request_body(self, records: list[bytes], single: bool) -> bytes:
        """The request for these records, each passed through InputFilter."""
        if self.input_path is None:
            parts = records
        else:
            try:
                parts = [self._dump(jsonpath.apply(self.input_path, self._parse(r, self.csv_in)), self.csv_in)
                         for r in records]
            except jsonpath.JsonPathError as exc:
                raise ProcessingError(f"InputFilter: {exc}") from None
        return parts[0] if single else b"\n".join(parts) + b"\n"

    def outputs(self, records: list[bytes], response: bytes) -> bytes:
        """The assembled output lines for these records (each ends with a newline)."""
        inferences = self._split(response, len(records))
        lines = []
        for record, inference in zip(records, inferences, strict=True):
            if not self.join and self.output_path is None:
                lines.append(inference)
                continue
            out_value = self._inference_value(inference)
            value = self._joined(record, out_value) if self.join else out_value
            if self.output_path is not None:
                try:
                    value = jsonpath.apply(self.output_path, value)
                except jsonpath.JsonPathError as exc:
                    raise ProcessingError(f"OutputFilter: {exc}") from None
            lines.append(self._dump(value, self.csv_in if self.join else self.csv_out))
        return b"".join(line + b"\n" for line in lines)

    def _inference_value(self, inference: bytes) -> Any:
        if self.csv_out:
            return _csv_fields(inference.decode("utf-8"))
        try:
            return json.loads(inference)
        except ValueError:
            return inference.decode("utf-8", "replace")

    def _joined(self, record: bytes, out_value: Any) -> Any:
        source = self._parse(record, self.csv_in)
        if self.csv_in:
            return source + (out_value if isinstance(out_value, list) else [out_value])
        if isinstance(source, dict):
            return {**source, "SageMakerOutput": out_value}
        return {"SageMakerInput": source, "SageMakerOutput": out_value}

    @staticmethod
    def _split(response: bytes, count: int) -> list[bytes]:
        body = response.strip(b"\r\n")
        if count == 1:
            return [body]
        lines = body.splitlines()
        if len(lines) == count:
            return lines
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and len(doc) == 1:
            doc = next(iter(doc.values()))  # {"predictions": [...]}
        if isinstance(doc, list) and len(doc) == count:
            return [json.dumps(v, separators=(",", ":")).encode() for v in doc]
        raise ProcessingError(f"The number of inferences in the response ({len(lines)}) does not match the number "
                              f"of records in the request ({count}).")
