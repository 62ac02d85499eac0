"""The `json` protocol (JSON 1.0/1.1 over `POST /` with `X-Amz-Target`): sagemaker, logs, athena, ..."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from kiln.aws import errors
from kiln.aws.context import RequestContext
from kiln.aws.errors import AwsError
from kiln.aws.protocol.common import Codec, HttpRequest, HttpResponse, ProtocolError
from kiln.aws.protocol.shapes import format_timestamp, lower_camel, parse_timestamp
from kiln.aws.specs import operation_names


def _type_error(where: str, kind: str, value: Any) -> ProtocolError:
    shown = json.dumps(value)[:60] if not isinstance(value, bytes) else "<bytes>"
    return ProtocolError(f"Value {shown} at '{where}' failed to deserialize: expected a {kind}.")


def decode(shape: Shape | None, value: Any, where: str = "") -> Any:
    """A JSON document (already `json.loads`-ed) as model-typed Python values, strictly typed."""
    if shape is None or value is None or shape.metadata.get("document"):
        return value
    kind = shape.type_name
    match kind:
        case "structure":
            if not isinstance(value, dict):
                raise _type_error(where or "body", "structure", value)
            out: dict[str, Any] = {}
            for key, item in value.items():
                member = shape.members.get(key)
                if member is not None and item is not None:
                    path = f"{where}.{lower_camel(key)}" if where else lower_camel(key)
                    out[key] = decode(member, item, path)
            return out
        case "list":
            if not isinstance(value, list):
                raise _type_error(where, "list", value)
            return [decode(shape.member, v, f"{where}.{i + 1}.member") for i, v in enumerate(value)]
        case "map":
            if not isinstance(value, dict):
                raise _type_error(where, "map", value)
            return {k: decode(shape.value, v, f"{where}.{k}") for k, v in value.items()}
        case "string":
            if not isinstance(value, str):
                raise _type_error(where, "string", value)
            return value
        case "integer" | "long":
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    return int(value)
                raise _type_error(where, kind, value)
            return value
        case "float" | "double":
            if isinstance(value, bool) or not isinstance(value, int | float):
                if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
                    return float(value)
                raise _type_error(where, kind, value)
            return float(value)
        case "boolean":
            if not isinstance(value, bool):
                raise _type_error(where, "boolean", value)
            return value
        case "timestamp":
            try:
                return parse_timestamp(value)
            except (ValueError, TypeError, OverflowError) as exc:
                raise _type_error(where, "timestamp", value) from exc
        case "blob":
            if not isinstance(value, str):
                raise _type_error(where, "base64 blob", value)
            try:
                return base64.b64decode(value, validate=True)
            except binascii.Error as exc:
                raise _type_error(where, "base64 blob", value) from exc
        case _:
            return value  # document types pass through


def encode(shape: Shape | None, value: Any, timestamp_format: str = "unixtimestamp") -> Any:
    """Model-typed Python values as a JSON-ready document. Unknown keys and None values are dropped."""
    if shape is None or value is None or shape.metadata.get("document"):
        return value
    match shape.type_name:
        case "structure":
            out: dict[str, Any] = {}
            for key, member in shape.members.items():
                item = value.get(key)
                if item is None or member.serialization.get("location"):
                    continue
                out[member.serialization.get("name", key)] = encode(member, item, timestamp_format)
            return out
        case "list":
            return [encode(shape.member, v, timestamp_format) for v in value]
        case "map":
            return {k: encode(shape.value, v, timestamp_format) for k, v in value.items()}
        case "timestamp":
            return format_timestamp(value, shape.serialization.get("timestampFormat", timestamp_format))
        case "blob":
            raw = value.encode() if isinstance(value, str) else bytes(value)
            return base64.b64encode(raw).decode()
        case "float" | "double":
            f = float(value)
            if math.isnan(f):
                return "NaN"
            if math.isinf(f):
                return "Infinity" if f > 0 else "-Infinity"
            return f
        case _:
            return value


def load_body(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("Request body is not valid JSON.") from exc


def dump(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def error_document(err: AwsError, shape: Shape | None = None, *, with_type: bool = True) -> dict[str, Any]:
    """The JSON error body. With the model's error shape, the message goes under the shape's own
    member name (`Message` or `message`) and modelled fields are encoded by their shapes."""
    message_key = "Message" if shape is not None and "Message" in shape.members else "message"
    doc: dict[str, Any] = {"__type": err.code} if with_type else {}
    doc[message_key] = err.message
    modelled = {k: v for k, v in err.fields.items() if shape is not None and k in shape.members}
    if modelled:
        doc.update(encode(shape, modelled))
    doc.update({k: v for k, v in err.fields.items() if k not in modelled})
    return doc


class JsonCodec(Codec):
    def find_operation(self, service: ServiceModel, request: HttpRequest) -> OperationModel:
        target = request.headers.get("x-amz-target", "")
        prefix, _, name = target.rpartition(".")
        if not prefix or not name:
            raise errors.UnknownOperationException("Missing or malformed X-Amz-Target header.", status=400)
        if name not in operation_names(service):
            raise errors.UnknownOperationException(
                f"Operation {name} is not an operation of service {service.service_name}.", status=400)
        return service.operation_model(name)

    def parse(self, operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
        doc = load_body(request.body)
        if operation.input_shape is None:
            return {}
        return decode(operation.input_shape, doc) or {}

    def _content_type(self, service: ServiceModel) -> str:
        return f"application/x-amz-json-{service.metadata.get('jsonVersion', '1.1')}"

    def serialize(self, operation: OperationModel, result: Mapping[str, Any] | None,
                  ctx: RequestContext) -> HttpResponse:
        doc = encode(operation.output_shape, result or {}) if operation.output_shape else {}
        return HttpResponse(200, {"Content-Type": self._content_type(operation.service_model)}, dump(doc))

    def serialize_error(self, service: ServiceModel, operation: OperationModel | None, err: AwsError,
                        ctx: RequestContext) -> HttpResponse:
        headers = {"Content-Type": self._content_type(service), "x-amzn-ErrorType": err.code, **err.headers}
        if service.metadata.get("awsQueryCompatible") is not None:
            # JSON clients of query-compatible services (CloudWatch) read the code from this header.
            headers["x-amzn-query-error"] = f"{err.code};{'Sender' if err.sender_fault else 'Receiver'}"
        return HttpResponse(err.status, headers, dump(error_document(err, error_shape(service, err.code))))


def error_shape(service: ServiceModel, code: str) -> Shape | None:
    """The model's shape for an error code, if the service models it."""
    return service.shape_for_error_code(code)
