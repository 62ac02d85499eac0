"""kiln.aws.routing: headers, path and host -> the AWS service a request is for."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from kiln.aws import routing
from kiln.aws.specs import SERVICES, service_model


def _headers(**items: str) -> Headers:
    return Headers({k.replace("_", "-"): v for k, v in items.items()})


def _auth(service: str, region: str = "eu-west-1", key: str = "AKIDKILN") -> str:
    return (f"AWS4-HMAC-SHA256 Credential={key}/20240101/{region}/{service}/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=abcdef")


def _service(path: str = "/", query: str = "", **headers: str) -> str:
    return routing.route("POST", path, query, _headers(**headers), ("localhost",)).service


# ------------------------------------------------------------------------------ credential scope


def test_credential_from_the_authorization_header() -> None:
    cred = routing.credential(_headers(authorization=_auth("sagemaker", "ap-south-1", "AKID1")), {})
    assert cred == routing.Credential("AKID1", "ap-south-1", "sagemaker")


def test_credential_from_a_presigned_url() -> None:
    query = {"X-Amz-Credential": "AKID2/20240101/us-west-2/s3/aws4_request"}
    assert routing.credential(_headers(), query) == routing.Credential("AKID2", "us-west-2", "s3")


def test_no_credential() -> None:
    assert routing.credential(_headers(), {}) is None
    assert routing.credential(_headers(authorization="AWS AKID:sig"), {"X-Amz-Credential": "short"}) is None


@pytest.mark.parametrize(("signing", "service"), [
    ("s3", "s3"), ("sts", "sts"), ("iam", "iam"), ("monitoring", "cloudwatch"), ("logs", "logs"),
    ("athena", "athena"), ("glue", "glue"), ("events", "events"),
    ("application-autoscaling", "application-autoscaling"), ("sagemaker", "sagemaker"),
])
def test_signing_name_names_the_service(signing: str, service: str) -> None:
    assert _service(authorization=_auth(signing)) == service


def test_every_served_service_signs_with_a_name_routing_knows() -> None:
    for name in SERVICES:
        model = service_model(name)
        signing = model.signing_name or model.endpoint_prefix
        routed = _service(authorization=_auth(signing))
        assert routed == name or signing == "sagemaker", (name, signing, routed)


# ------------------------------------------------------------------------------------ X-Amz-Target


@pytest.mark.parametrize("service", [s for s in SERVICES if service_model(s).metadata.get("targetPrefix")])
def test_target_prefix_names_json_services(service: str) -> None:
    prefix = service_model(service).metadata["targetPrefix"]
    assert _service(x_amz_target=f"{prefix}.SomeOperation") == service
    signing = service_model(service).signing_name or service
    assert _service(authorization=_auth(signing), x_amz_target=f"{prefix}.SomeOperation") == service


def test_sagemaker_target_wins_over_a_runtime_looking_path() -> None:
    assert _service("/endpoints/x/invocations", authorization=_auth("sagemaker"),
                    x_amz_target="SageMaker.ListEndpoints") == "sagemaker"


def test_unknown_target_prefix_falls_back_to_the_signing_name() -> None:
    assert _service(authorization=_auth("logs"), x_amz_target="Nope_2020.Thing") == "logs"


# ------------------------------------------------------------------ services that sign as sagemaker


@pytest.mark.parametrize(("path", "service"), [
    ("/endpoints/my-endpoint/invocations", "sagemaker-runtime"),
    ("/endpoints/my-endpoint/async-invocations", "sagemaker-runtime"),
    ("/endpoints/my-endpoint/invocations-response-stream", "sagemaker-runtime"),
    ("/FeatureGroup/my-group", "sagemaker-featurestore-runtime"),
    ("/BatchGetRecord", "sagemaker-featurestore-runtime"),
    ("/BatchWriteRecord", "sagemaker-featurestore-runtime"),
    ("/BatchPutMetrics", "sagemaker-metrics"),
    ("/BatchGetMetrics", "sagemaker-metrics"),
    ("/", "sagemaker"),
])
def test_sagemaker_signed_services_by_path(path: str, service: str) -> None:
    assert _service(path, authorization=_auth("sagemaker")) == service


def test_every_rest_operation_of_the_sagemaker_signed_services_routes_by_its_path() -> None:
    for name in ("sagemaker-runtime", "sagemaker-featurestore-runtime", "sagemaker-metrics"):
        model = service_model(name)
        for op in model.operation_names:
            uri = model.operation_model(op).http["requestUri"].split("?")[0]
            path = uri.replace("{", "").replace("}", "").replace("+", "")
            assert _service(path, authorization=_auth("sagemaker")) == name, (name, op, path)


def test_unsigned_runtime_paths_still_route() -> None:
    assert _service("/endpoints/e/invocations") == "sagemaker-runtime"
    assert _service("/FeatureGroup/g") == "sagemaker-featurestore-runtime"


# ------------------------------------------------------------------------------------------- S3


def test_s3_signing_wins_over_sagemaker_looking_paths() -> None:
    """A bucket may be called `endpoints`; its objects then live under /endpoints/."""
    assert _service("/endpoints/key", authorization=_auth("s3")) == "s3"
    assert _service("/BatchGetRecord", authorization=_auth("s3")) == "s3"


def test_presigned_s3_url() -> None:
    query = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Fs3%2Faws4_request"
             "&X-Amz-Date=20240101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=ab")
    routed = routing.route("GET", "/endpoints/model.tar.gz", query, _headers(host="localhost:8437"))
    assert routed.service == "s3"
    assert routed.credential == routing.Credential("AKID", "us-east-1", "s3")
    assert routed.request.path == "/endpoints/model.tar.gz"


def test_anything_else_unsigned_is_s3() -> None:
    assert _service("/my-bucket/some/key") == "s3"
    assert _service("/") == "s3"


@pytest.mark.parametrize(("host", "bucket"), [
    ("my-bucket.s3.localhost:8437", "my-bucket"),
    ("my-bucket.localhost:8437", "my-bucket"),
    ("my-bucket.localhost", "my-bucket"),
    ("my.dotted.bucket.s3.amazonaws.com", "my.dotted.bucket"),
    ("my-bucket.s3.us-west-2.amazonaws.com", "my-bucket"),
    ("my-bucket.s3-us-west-2.amazonaws.com", "my-bucket"),
    ("localhost:8437", None),
    ("127.0.0.1:8437", None),
    ("s3.localhost:8437", None),
    ("kiln.internal:8437", None),
])
def test_virtual_host_bucket(host: str, bucket: str | None) -> None:
    assert routing.virtual_host_bucket(host, ("localhost", "127.0.0.1")) == bucket


def test_own_hosts_are_never_buckets() -> None:
    assert routing.virtual_host_bucket("kiln.localhost:8437", ("kiln.localhost",)) is None


def test_virtual_host_request_is_rewritten_path_style() -> None:
    routed = routing.route("GET", "/dir/key.txt", "", _headers(host="photos.s3.localhost:8437",
                                                                  authorization=_auth("s3")), ("localhost",))
    assert routed.service == "s3"
    assert routed.request.path == "/photos/dir/key.txt"
    assert routed.request.sent_path == "/dir/key.txt"
    root = routing.route("GET", "/", "list-type=2", _headers(host="photos.localhost:8437"), ("localhost",))
    assert root.request.path == "/photos/"
    assert root.request.query == [("list-type", "2")]


def test_virtual_host_names_do_not_touch_other_services() -> None:
    routed = routing.route("POST", "/", "", _headers(host="photos.localhost:8437", authorization=_auth("sts")))
    assert routed.service == "sts"
    assert routed.request.path == "/"
    assert routed.request.sent_path is None


def test_query_is_decoded_in_order_with_blanks() -> None:
    routed = routing.route("GET", "/b?ignored", "uploads&prefix=a%2Fb&x=1&x=2", _headers(authorization=_auth("s3")))
    assert routed.request.path == "/b"
    assert routed.request.query == [("uploads", ""), ("prefix", "a/b"), ("x", "1"), ("x", "2")]


def test_services_kiln_does_not_serve_are_named_not_sent_to_s3() -> None:
    assert _service(authorization=_auth("dynamodb"), x_amz_target="DynamoDB_20120810.GetItem") == "dynamodb"
    assert _service(authorization=_auth("lambda")) == "lambda"
    assert _service(x_amz_target="DynamoDB_20120810.GetItem") == "DynamoDB_20120810"
