"""Round-trips for protocol features the served models barely use (or not at all) yet the codecs
must get right: querystring maps, header lists with quoted items, jsonvalue headers, header-prefix
maps, explicit timestamp formats, flattened XML/query lists and maps, renamed list members and map
entries, XML attributes, unions and documents. Each protocol gets a small hand-written model."""

from __future__ import annotations

import copy
import io
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.model import OperationModel, ServiceModel
from botocore.parsers import create_parser
from botocore.response import StreamingBody
from botocore.serialize import create_serializer
from botowire import ENDPOINT, diff, http_headers, normalise
from starlette.datastructures import Headers

from kiln.aws.context import RequestContext
from kiln.aws.gateway import CODECS
from kiln.aws.protocol.common import HttpRequest
from kiln.core.scope import Scope

T1 = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
T2 = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
CTX = RequestContext("kilntest", "Op", Scope("123456789012", "us-east-1"), "req-1")

S = {"type": "string"}
SHAPES: dict[str, Any] = {
    "String": S,
    "Integer": {"type": "integer"},
    "Long": {"type": "long"},
    "Double": {"type": "double"},
    "Boolean": {"type": "boolean"},
    "Blob": {"type": "blob"},
    "Timestamp": {"type": "timestamp"},
    "IsoTimestamp": {"type": "timestamp", "timestampFormat": "iso8601"},
    "EpochTimestamp": {"type": "timestamp", "timestampFormat": "unixTimestamp"},
    "HttpDate": {"type": "timestamp", "timestampFormat": "rfc822"},
    "JsonValue": {"type": "string", "jsonvalue": True},
    "StringList": {"type": "list", "member": {"shape": "String"}},
    "IntegerList": {"type": "list", "member": {"shape": "Integer"}},
    "StringMap": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "String"}},
    "ListMap": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "StringList"}},
    "Document": {"type": "structure", "members": {}, "document": True},
    "Inner": {"type": "structure", "members": {
        "Name": {"shape": "String"}, "At": {"shape": "Timestamp"}, "Iso": {"shape": "IsoTimestamp"},
        "Epoch": {"shape": "EpochTimestamp"}, "Date": {"shape": "HttpDate"}, "Data": {"shape": "Blob"},
        "Ratio": {"shape": "Double"}, "Big": {"shape": "Long"}, "On": {"shape": "Boolean"},
        "Numbers": {"shape": "IntegerList"}, "Map": {"shape": "StringMap"}}},
    "InnerList": {"type": "list", "member": {"shape": "Inner"}},
    "Choice": {"type": "structure", "union": True, "members": {
        "Text": {"shape": "String"}, "Number": {"shape": "Integer"}}},
}


def _model(protocol: str, operations: dict[str, Any], shapes: dict[str, Any]) -> ServiceModel:
    metadata = {"protocol": protocol, "protocols": [protocol], "apiVersion": "2024-01-01",
                "endpointPrefix": "kilntest", "serviceId": "KilnTest", "signatureVersion": "v4",
                "jsonVersion": "1.1", "targetPrefix": "KilnTest", "uid": "kilntest-2024-01-01",
                "xmlNamespace": "https://kilntest.example/doc/2024-01-01/"}
    return ServiceModel({"metadata": metadata, "operations": operations,
                         "shapes": {**copy.deepcopy(SHAPES), **shapes}}, "kilntest")


REST_INPUT = {"type": "structure", "required": ["Name"], "members": {
    "Name": {"shape": "String", "location": "uri", "locationName": "name"},
    "Path": {"shape": "String", "location": "uri", "locationName": "path"},
    "Labels": {"shape": "StringList", "location": "querystring", "locationName": "label"},
    "Count": {"shape": "Integer", "location": "querystring", "locationName": "count"},
    "Since": {"shape": "Timestamp", "location": "querystring", "locationName": "since"},
    "SinceEpoch": {"shape": "EpochTimestamp", "location": "querystring", "locationName": "since-epoch"},
    "On": {"shape": "Boolean", "location": "querystring", "locationName": "on"},
    "Filters": {"shape": "StringMap", "location": "querystring"},
    "Tags": {"shape": "StringList", "location": "header", "locationName": "x-kiln-tags"},
    "Numbers": {"shape": "IntegerList", "location": "header", "locationName": "x-kiln-numbers"},
    "Doc": {"shape": "JsonValue", "location": "header", "locationName": "x-kiln-doc"},
    "When": {"shape": "Timestamp", "location": "header", "locationName": "x-kiln-when"},
    "WhenIso": {"shape": "IsoTimestamp", "location": "header", "locationName": "x-kiln-when-iso"},
    "Ratio": {"shape": "Double", "location": "header", "locationName": "x-kiln-ratio"},
    "Flag": {"shape": "Boolean", "location": "header", "locationName": "x-kiln-flag"},
    "Meta": {"shape": "StringMap", "location": "headers", "locationName": "x-kiln-meta-"},
    "Inner": {"shape": "Inner"}, "Items": {"shape": "InnerList"}, "Choice": {"shape": "Choice"},
    "Lists": {"shape": "ListMap"}}}
REST_OUTPUT = {"type": "structure", "members": {
    "Status": {"shape": "Integer", "location": "statusCode"},
    "Tags": {"shape": "StringList", "location": "header", "locationName": "x-kiln-tags"},
    "Doc": {"shape": "JsonValue", "location": "header", "locationName": "x-kiln-doc"},
    "When": {"shape": "Timestamp", "location": "header", "locationName": "x-kiln-when"},
    "WhenEpoch": {"shape": "EpochTimestamp", "location": "header", "locationName": "x-kiln-when-epoch"},
    "Count": {"shape": "Long", "location": "header", "locationName": "x-kiln-count"},
    "Meta": {"shape": "StringMap", "location": "headers", "locationName": "x-kiln-meta-"},
    "Inner": {"shape": "Inner"}, "Items": {"shape": "InnerList"}, "Choice": {"shape": "Choice"}}}
REST_PARAMS = {
    "Name": "a name/with slash", "Path": "deep/er path/é", "Labels": ["x", "y z", "ü"], "Count": 3,
    "Since": T1, "SinceEpoch": T2, "On": False, "Filters": {"f1": "v 1", "f2": "ä&b=c"},
    "Tags": ["plain", "with,comma", 'with "quote"', "sp aced"], "Numbers": [1, 2, 3],
    "Doc": {"a": [1, {"b": None}], "c": "d"}, "When": T1, "WhenIso": T2, "Ratio": 0.25, "Flag": True,
    "Meta": {"alpha": "1", "beta-two": "x y"},
    "Inner": {"Name": "<&>'\"", "At": T1, "Iso": T2, "Epoch": T1, "Date": T2, "Data": b"\x00\xff",
              "Ratio": 1e-3, "Big": 2**40, "On": True, "Numbers": [5, 6], "Map": {"k": "v", "e": ""}},
    "Items": [{"Name": "one"}, {"Numbers": []}],
    "Choice": {"Number": 4},
    "Lists": {"a": ["1", "2"], "b": []},
}
REST_RESULT = {
    "Status": 202, "Tags": ["a", "b c"], "Doc": ["x", {"y": 1}], "When": T1, "WhenEpoch": T2,
    "Count": 2**40, "Meta": {"alpha": "1"},
    "Inner": REST_PARAMS["Inner"], "Items": REST_PARAMS["Items"], "Choice": {"Text": "t"},
}


def _rest_model(protocol: str) -> ServiceModel:
    op = {"name": "Op", "http": {"method": "POST", "requestUri": "/things/{name}/{path+}?mode=x",
                                 "responseCode": 200},
          "input": {"shape": "OpRequest"}, "output": {"shape": "OpResponse"}}
    shapes = {"OpRequest": copy.deepcopy(REST_INPUT), "OpResponse": copy.deepcopy(REST_OUTPUT)}
    if protocol == "rest-xml":  # body members go under the input shape's root element
        shapes["OpRequest"]["locationName"] = "OpRequest"
        op["input"]["locationName"] = "OpRequest"
    return _model(protocol, {"Op": op}, shapes)


XML_SHAPES = {
    "Flat": {"type": "list", "member": {"shape": "String", "locationName": "Item"}, "flattened": True},
    "Named": {"type": "list", "member": {"shape": "String", "locationName": "Entry"}},
    "FlatMap": {"type": "map", "key": {"shape": "String", "locationName": "K"},
                "value": {"shape": "String", "locationName": "V"}, "flattened": True},
    "NamedMap": {"type": "map", "key": {"shape": "String", "locationName": "Name"},
                 "value": {"shape": "Inner", "locationName": "Thing"}},
    "Grantee": {"type": "structure", "xmlNamespace": {"prefix": "xsi",
                                                      "uri": "http://www.w3.org/2001/XMLSchema-instance"},
                "members": {"Id": {"shape": "String"},
                            "Type": {"shape": "String", "locationName": "xsi:type", "xmlAttribute": True}}},
    "Payload": {"type": "structure", "members": {
        "Flat": {"shape": "Flat"}, "Named": {"shape": "Named"}, "FlatMap": {"shape": "FlatMap", "locationName": "Pair"},
        "NamedMap": {"shape": "NamedMap"}, "Grantee": {"shape": "Grantee"},
        "Renamed": {"shape": "String", "locationName": "renamed-member"}, "Inner": {"shape": "Inner"}}},
}
XML_VALUE = {"Flat": ["a", "b"], "Named": ["c", "d"], "FlatMap": {"k1": "v1", "k2": "v2"},
             "NamedMap": {"n": {"Name": "inner", "Numbers": [1]}}, "Grantee": {"Id": "i", "Type": "Group"},
             "Renamed": "r", "Inner": REST_PARAMS["Inner"]}


def _xml_payload_model() -> ServiceModel:
    op = {"name": "Op", "http": {"method": "PUT", "requestUri": "/{name}?config"},
          "input": {"shape": "OpRequest"}, "output": {"shape": "OpResponse"}}
    shapes = {
        **copy.deepcopy(XML_SHAPES),
        "OpRequest": {"type": "structure", "required": ["Name"], "payload": "Config", "members": {
            "Name": {"shape": "String", "location": "uri", "locationName": "name"},
            "Config": {"shape": "Payload", "locationName": "Config",
                       "xmlNamespace": {"uri": "https://kilntest.example/doc/2024-01-01/"}}}},
        "OpResponse": {"type": "structure", "payload": "Config", "members": {
            "Config": {"shape": "Payload"}}},
    }
    return _model("rest-xml", {"Op": op}, shapes)


def _rpc_model(protocol: str) -> ServiceModel:
    op = {"name": "Op", "http": {"method": "POST", "requestUri": "/"},
          "input": {"shape": "OpRequest"}, "output": {"shape": "OpResponse",
                                                      "resultWrapper": "OpResult"}}
    body = {"type": "structure", "members": {
        "Inner": {"shape": "Inner"}, "Items": {"shape": "InnerList"}, "Choice": {"shape": "Choice"},
        "Lists": {"shape": "ListMap"}, "Empty": {"shape": "StringList"}}}
    if protocol == "json":
        body["members"]["Doc"] = {"shape": "Document"}
    else:
        body["members"].update({k: {"shape": k} for k in ("Flat", "Named", "FlatMap", "NamedMap")})
    shapes = {**copy.deepcopy(XML_SHAPES), "OpRequest": body, "OpResponse": copy.deepcopy(body)}
    return _model(protocol, {"Op": op}, shapes)


RPC_VALUE: dict[str, Any] = {"Inner": REST_PARAMS["Inner"], "Items": REST_PARAMS["Items"],
                             "Choice": {"Text": "t"}, "Lists": {"a": ["1", "2"]}, "Empty": []}


def _rpc_value(protocol: str) -> dict[str, Any]:
    if protocol == "json":
        return {**RPC_VALUE, "Doc": {"any": ["thing", 1, None]}}
    return {**RPC_VALUE, **{k: XML_VALUE[k] for k in ("Flat", "Named", "FlatMap", "NamedMap")}}


def _send(protocol: str, operation: OperationModel, params: dict[str, Any]) -> HttpRequest:
    request_dict = create_serializer(protocol, include_validation=False).serialize_to_request(params, operation)
    prepare_request_dict(request_dict, endpoint_url=ENDPOINT)
    prepared = create_request_object(request_dict).prepare()
    url = urlsplit(prepared.url)
    raw = [(k.lower().encode(), str(v).encode("latin-1")) for k, v in prepared.headers.items()]
    if protocol == "json":
        raw.append((b"x-amz-target", b"KilnTest.Op"))
    from urllib.parse import parse_qsl

    body = prepared.body or b""
    return HttpRequest(prepared.method, url.path, parse_qsl(url.query, keep_blank_values=True),
                       Headers(raw=raw), body.encode() if isinstance(body, str) else body)


def _request_roundtrip(protocol: str, model: ServiceModel, params: dict[str, Any]) -> list[str]:
    operation = model.operation_model("Op")
    request = _send(protocol, operation, params)
    codec = CODECS[protocol]
    assert codec.find_operation(model, request).name == "Op"
    parsed = codec.parse(operation, request)
    return list(diff(normalise(operation.input_shape, params), normalise(operation.input_shape, parsed)))


def _response_roundtrip(protocol: str, model: ServiceModel, result: dict[str, Any]) -> list[str]:
    operation = model.operation_model("Op")
    response = CODECS[protocol].serialize(operation, result, CTX)
    body = response.body if isinstance(response.body, bytes) else b"".join(response.body)  # type: ignore[arg-type]
    http = {"status_code": response.status, "headers": http_headers(response.headers),
            "body": StreamingBody(io.BytesIO(body), len(body)) if operation.has_streaming_output else body}
    parsed = create_parser(protocol).parse(http, operation.output_shape)
    return list(diff(normalise(operation.output_shape, result), normalise(operation.output_shape, parsed),
                     allow_empty=True))


@pytest.mark.parametrize("protocol", ["rest-json", "rest-xml"])
def test_rest_located_members_round_trip(protocol: str) -> None:
    model = _rest_model(protocol)
    assert _request_roundtrip(protocol, model, REST_PARAMS) == []
    assert _response_roundtrip(protocol, model, REST_RESULT) == []


def test_rest_querystring_map_keeps_literal_and_named_keys_out() -> None:
    model = _rest_model("rest-json")
    request = _send("rest-json", model.operation_model("Op"), {"Name": "n", "Path": "p", "Count": 1,
                                                                 "Filters": {"z": "1"}})
    parsed = CODECS["rest-json"].parse(model.operation_model("Op"), request)
    assert parsed["Filters"] == {"z": "1"}  # not `mode` (literal in the URI) nor `count` (a member)


def test_rest_xml_payload_structures_round_trip() -> None:
    model = _xml_payload_model()
    params = {"Name": "bucket", "Config": XML_VALUE}
    assert _request_roundtrip("rest-xml", model, params) == []
    assert _response_roundtrip("rest-xml", model, {"Config": XML_VALUE}) == []


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_rpc_bodies_round_trip(protocol: str) -> None:
    model = _rpc_model(protocol)
    value = _rpc_value(protocol)
    assert _request_roundtrip(protocol, model, value) == []
    result = dict(value)
    if protocol == "query":
        result.pop("Empty")  # an empty list has no XML form in a query response
    assert _response_roundtrip(protocol, model, result) == []
