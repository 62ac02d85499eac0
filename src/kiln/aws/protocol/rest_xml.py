"""The `rest-xml` protocol (S3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree as ET

from botocore.model import OperationModel, ServiceModel

from kiln.aws.context import RequestContext
from kiln.aws.errors import AwsError, error
from kiln.aws.protocol import rest, xml
from kiln.aws.protocol.common import Codec, HttpRequest, HttpResponse, ProtocolError, text_body

InvalidArgument = error("InvalidArgument")

# The model does not name the root element of payload-less outputs; botocore's parser ignores it,
# but other S3 clients read it, so use S3's documented names.
_ROOTS = {
    "ListBuckets": "ListAllMyBucketsResult",
    "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult",
    "ListObjectVersions": "ListVersionsResult",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CompleteMultipartUpload": "CompleteMultipartUploadResult",
    "ListMultipartUploads": "ListMultipartUploadsResult",
    "ListParts": "ListPartsResult",
    "DeleteObjects": "DeleteResult",
    "GetBucketLocation": "LocationConstraint",
    "GetBucketTagging": "Tagging",
    "GetObjectTagging": "Tagging",
    "GetBucketVersioning": "VersioningConfiguration",
}


class RestXmlCodec(Codec):
    def find_operation(self, service: ServiceModel, request: HttpRequest) -> OperationModel:
        op, request.labels = rest.find_operation(service, request)
        return op

    def streams_input(self, operation: OperationModel) -> bool:
        return bool(operation.has_streaming_input)

    def parse(self, operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
        try:
            return self._parse(operation, request)
        except ProtocolError as exc:  # S3 names a value it cannot read InvalidArgument
            raise InvalidArgument(exc.message) from exc

    def _parse(self, operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
        shape = operation.input_shape
        if shape is None:
            return {}
        out = rest.parse_located(operation, request)
        payload = rest.payload_member(shape)
        if payload is None:
            # body members sit under a root element named by the input shape (SelectObjectContent)
            if request.body.strip() and rest.body_members(shape):
                decoded = xml.decode(shape, xml.parse_document(request.body))
                out.update({k: v for k, v in decoded.items() if k in rest.body_members(shape)})
            return out
        name, member = payload
        if request.stream is not None:
            out[name] = request.stream
        elif member.type_name in ("blob", "string"):
            if request.body or name in shape.required_members:
                out[name] = request.body if member.type_name == "blob" else text_body(request.body)
        elif request.body.strip():
            out[name] = xml.decode(member, xml.parse_document(request.body), name)
        return out

    def _namespace(self, operation: OperationModel) -> str | None:
        ns = operation.service_model.metadata.get("xmlNamespace")
        if isinstance(ns, dict):
            return ns.get("uri")
        if ns:
            return str(ns)
        if operation.service_model.service_name == "s3":
            return "http://s3.amazonaws.com/doc/2006-03-01/"
        return None

    def serialize(self, operation: OperationModel, result: Mapping[str, Any] | None,
                  ctx: RequestContext) -> HttpResponse:
        result = result or {}
        shape = operation.output_shape
        status = int(operation.http.get("responseCode", 200))
        headers, located = rest.serialize_located(shape, result)
        status = located or status
        if operation.name == "GetObject" and result.get("ContentRange"):
            status = 206  # S3 answers a ranged GET with Partial Content; the model has no status member
        body: Any = b""
        payload = rest.payload_member(shape)
        if payload is not None:
            name, member = payload
            value = result.get(name)
            if member.type_name in ("blob", "string"):
                body = value.encode() if isinstance(value, str) else (value if value is not None else b"")
            elif value is not None:
                root = ET.Element(member.serialization.get("name", name))
                if ns := self._namespace(operation):
                    root.set("xmlns", ns)
                xml.encode_members(root, member, value)
                body = xml.to_bytes(root)
                headers.setdefault("Content-Type", "application/xml")
        elif shape is not None and rest.body_members(shape):
            if operation.name == "GetBucketLocation":
                root = ET.Element("LocationConstraint")
                root.text = result.get("LocationConstraint") or None
            else:
                root = ET.Element(_ROOTS.get(operation.name, f"{operation.name}Result"))
                xml.encode_members(root, shape, dict(result))
            if ns := self._namespace(operation):
                root.set("xmlns", ns)
            body = xml.to_bytes(root)
            headers.setdefault("Content-Type", "application/xml")
        return HttpResponse(status, headers, body)

    def serialize_error(self, service: ServiceModel, operation: OperationModel | None, err: AwsError,
                        ctx: RequestContext) -> HttpResponse:
        located, _ = rest.serialize_located(service.shape_for_error_code(err.code), err.fields)
        headers = {"x-amz-request-id": ctx.request_id, **located, **err.headers}
        if (operation is not None and operation.http.get("method") == "HEAD") or err.status == 304:
            return HttpResponse(err.status, headers, b"")
        root = ET.Element("Error")
        ET.SubElement(root, "Code").text = err.code
        ET.SubElement(root, "Message").text = err.message
        xml.encode_fields(root, service.shape_for_error_code(err.code), err.fields)
        ET.SubElement(root, "RequestId").text = ctx.request_id
        headers["Content-Type"] = "application/xml"
        return HttpResponse(err.status, headers, xml.to_bytes(root))
