"""The `rest-json` protocol: sagemaker-runtime, sagemaker-featurestore-runtime, sagemaker-metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.model import OperationModel, ServiceModel

from kiln.aws.context import RequestContext
from kiln.aws.errors import AwsError
from kiln.aws.protocol import json as jsonp
from kiln.aws.protocol import rest
from kiln.aws.protocol.common import Codec, HttpRequest, HttpResponse, text_body


class RestJsonCodec(Codec):
    def find_operation(self, service: ServiceModel, request: HttpRequest) -> OperationModel:
        op, request.labels = rest.find_operation(service, request)
        return op

    def streams_input(self, operation: OperationModel) -> bool:
        return bool(operation.has_streaming_input)

    def parse(self, operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
        shape = operation.input_shape
        if shape is None:
            return {}
        out = rest.parse_located(operation, request)
        payload = rest.payload_member(shape)
        if payload is not None:
            name, member = payload
            if member.type_name in ("blob", "string"):
                if request.stream is not None:
                    out[name] = request.stream
                elif request.body or name in shape.required_members:
                    out[name] = request.body if member.type_name == "blob" else text_body(request.body)
            elif request.body.strip():
                out[name] = jsonp.decode(member, jsonp.load_body(request.body))
            return out
        if request.body.strip():
            doc = jsonp.load_body(request.body)
            decoded = jsonp.decode(shape, doc) or {}
            body_names = rest.body_members(shape)
            out.update({k: v for k, v in decoded.items() if k in body_names})
        return out

    def serialize(self, operation: OperationModel, result: Mapping[str, Any] | None,
                  ctx: RequestContext) -> HttpResponse:
        result = result or {}
        shape = operation.output_shape
        status = int(operation.http.get("responseCode", 200))
        headers, located_status = rest.serialize_located(shape, result)
        if located_status is not None:
            status = located_status
        body: Any = b""
        payload = rest.payload_member(shape)
        if payload is not None:
            name, member = payload
            value = result.get(name)
            if member.type_name in ("blob", "string"):
                body = value.encode() if isinstance(value, str) else (value if value is not None else b"")
            elif member.serialization.get("eventstream") and value is not None:
                body = value  # an (async) iterable of encoded application/vnd.amazon.eventstream messages
                headers.setdefault("Content-Type", "application/vnd.amazon.eventstream")
            elif value is not None:
                body = jsonp.dump(jsonp.encode(member, value))
                headers.setdefault("Content-Type", "application/json")
        elif shape is not None:
            body = jsonp.dump(jsonp.encode(shape, result))
            headers.setdefault("Content-Type", "application/json")
        return HttpResponse(status, headers, body)

    def serialize_error(self, service: ServiceModel, operation: OperationModel | None, err: AwsError,
                        ctx: RequestContext) -> HttpResponse:
        shape = jsonp.error_shape(service, err.code)
        located, _ = rest.serialize_located(shape, err.fields)
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": err.code, **located, **err.headers}
        doc = jsonp.error_document(err, shape, with_type=False)
        return HttpResponse(err.status, headers, jsonp.dump(doc))

