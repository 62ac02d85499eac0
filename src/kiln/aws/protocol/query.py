"""The `query` protocol (sts, iam; CloudWatch for older botocore): form-encoded in, XML out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree as ET

from botocore.model import OperationModel, ServiceModel, Shape

from kiln.aws import errors
from kiln.aws.context import RequestContext
from kiln.aws.errors import AwsError
from kiln.aws.protocol import xml
from kiln.aws.protocol.common import Codec, HttpRequest, HttpResponse
from kiln.aws.protocol.shapes import from_text
from kiln.aws.specs import operation_names


def _params(request: HttpRequest) -> dict[str, str]:
    params = dict(request.query)
    if request.body:
        params.update(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def decode(shape: Shape, params: Mapping[str, str], prefix: str) -> Any:
    """Flattened form keys (`A.B`, `A.member.1`, `A.entry.1.key`) as model values, or None if absent."""
    match shape.type_name:
        case "structure":
            out: dict[str, Any] = {}
            for name, member in shape.members.items():
                key = member.serialization.get("name", name)
                value = decode(member, params, f"{prefix}.{key}" if prefix else key)
                if value is not None:
                    out[name] = value
            if not out and prefix:
                return None
            for name in shape.required_members:  # a structure with nothing set has no form keys
                member = shape.members[name]
                if name not in out and member.type_name == "structure" and not member.required_members:
                    out[name] = {}
            return out
        case "list":
            flat = shape.serialization.get("flattened")
            item = shape.member.serialization.get("name")
            if flat:  # botocore names a flattened list's keys after its member, when it has a name
                base = f"{prefix.rpartition('.')[0]}.{item}".lstrip(".") if item else prefix
            else:
                base = f"{prefix}.{item or 'member'}"
            items, i = [], 1
            while True:
                value = decode(shape.member, params, f"{base}.{i}")
                if value is None:
                    break
                items.append(value)
                i += 1
            if not items and params.get(prefix) == "":
                return []
            return items or None
        case "map":
            flat = shape.serialization.get("flattened")
            base = prefix if flat else f"{prefix}.entry"
            kname = shape.key.serialization.get("name", "key")
            vname = shape.value.serialization.get("name", "value")
            out, i = {}, 1
            while f"{base}.{i}.{kname}" in params:
                out[params[f"{base}.{i}.{kname}"]] = decode(shape.value, params, f"{base}.{i}.{vname}")
                i += 1
            return out or None
        case _:
            if prefix not in params:
                return None
            return from_text(shape, params[prefix], prefix)


class QueryCodec(Codec):
    routes_by_body = True

    def find_operation(self, service: ServiceModel, request: HttpRequest) -> OperationModel:
        action = _params(request).get("Action")
        if not action:
            raise errors.MissingAction("Missing Action parameter.")
        if action not in operation_names(service):
            raise errors.InvalidAction(f"Could not find operation {action} for version "
                                       f"{service.api_version} of service {service.service_name}.")
        return service.operation_model(action)

    def parse(self, operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
        if operation.input_shape is None:
            return {}
        return decode(operation.input_shape, _params(request), "") or {}

    def _ns(self, service: ServiceModel) -> str:
        ns = service.metadata.get("xmlNamespace")
        if ns:
            return str(ns)
        return f"https://{service.endpoint_prefix}.amazonaws.com/doc/{service.api_version}/"

    def serialize(self, operation: OperationModel, result: Mapping[str, Any] | None,
                  ctx: RequestContext) -> HttpResponse:
        root = ET.Element(f"{operation.name}Response", xmlns=self._ns(operation.service_model))
        shape = operation.output_shape
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper", f"{operation.name}Result")
            node = ET.SubElement(root, wrapper)
            xml.encode_members(node, shape, dict(result or {}))
        meta = ET.SubElement(root, "ResponseMetadata")
        ET.SubElement(meta, "RequestId").text = ctx.request_id
        return HttpResponse(200, {"Content-Type": "text/xml"}, xml.to_bytes(root))

    def serialize_error(self, service: ServiceModel, operation: OperationModel | None, err: AwsError,
                        ctx: RequestContext) -> HttpResponse:
        root = ET.Element("ErrorResponse", xmlns=self._ns(service))
        e = ET.SubElement(root, "Error")
        ET.SubElement(e, "Type").text = "Sender" if err.sender_fault else "Receiver"
        ET.SubElement(e, "Code").text = err.code
        ET.SubElement(e, "Message").text = err.message
        xml.encode_fields(e, service.shape_for_error_code(err.code), err.fields)
        ET.SubElement(root, "RequestId").text = ctx.request_id
        return HttpResponse(err.status, {"Content-Type": "text/xml", **err.headers}, xml.to_bytes(root))
