"""Which AWS service a request is for. The only module that knows the single-port routing rules.

1. The SigV4 credential scope names the signing service (`Authorization` header, or
   `X-Amz-Credential` in a presigned URL). `s3` is S3; `sts`/`iam`/`monitoring` are query services.
2. `X-Amz-Target` names JSON-protocol services by prefix (`SageMaker.`, `Logs_20140328.`, ...).
3. Four services sign as `sagemaker`; the REST ones are told apart by path: `/endpoints/...` is
   sagemaker-runtime, `/FeatureGroup/...` and `/Batch*Record` featurestore-runtime, `/Batch*Metrics`
   sagemaker-metrics.
4. Anything else unsigned (a browser, curl, a presigned URL) is S3, path-style or virtual-host style.
5. A signing name or target prefix of a service Kiln does not serve is returned as is; the gateway
   answers it with a clear 501 rather than an S3 error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from kiln.aws.protocol.common import HttpRequest
from kiln.aws.specs import target_prefixes

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")
_SCOPE_SERVICES = {"s3": "s3", "sts": "sts", "iam": "iam", "monitoring": "cloudwatch", "logs": "logs",
                   "athena": "athena", "glue": "glue", "events": "events",
                   "application-autoscaling": "application-autoscaling"}
_FEATURESTORE_PATHS = ("/FeatureGroup/", "/BatchGetRecord", "/BatchWriteRecord")
_METRICS_PATHS = ("/BatchPutMetrics", "/BatchGetMetrics")
# The bucket is the shortest prefix followed by an S3 host (`.s3.localhost`, `.s3.<region>.amazonaws.com`,
# `.s3-<region>...`) or `.localhost`: `photos.s3.localhost` is bucket `photos`, not `photos.s3`.
_VHOST = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}?[a-z0-9])"
                    r"\.(?:s3[.\-][^:]*|s3|localhost)(?::\d+)?$")


@dataclass(frozen=True, slots=True)
class Credential:
    access_key: str
    region: str
    service: str


@dataclass(slots=True)
class Routed:
    """A raw HTTP request, routed: the service it is for, who signed it, and the codec-neutral request."""

    service: str
    credential: Credential | None
    request: HttpRequest


def route(method: str, raw_path: str, raw_query: str, headers: Mapping[str, str],
          own_hosts: tuple[str, ...] = ()) -> Routed:
    """Route a request as it came off the wire (`raw_path` still percent-encoded).

    A virtual-host-style S3 request (`bucket.s3.localhost`) gets its bucket moved into the path, so
    the S3 codec sees every request path-style.
    """
    query = parse_qsl(raw_query, keep_blank_values=True)
    path = raw_path.split("?", 1)[0] or "/"
    cred = credential(headers, dict(query))
    service = service_for(headers, path, cred)
    sent_path = None
    if service == "s3":
        bucket = virtual_host_bucket(headers.get("host", ""), own_hosts)
        if bucket:
            sent_path, path = path, f"/{bucket}{path}"
    return Routed(service, cred, HttpRequest(method, path, query, headers, sent_path=sent_path))


def credential(headers: Mapping[str, str], query: Mapping[str, str]) -> Credential | None:
    auth = headers.get("authorization", "")
    m = _CREDENTIAL.search(auth)
    if m:
        return Credential(m.group(1), m.group(3), m.group(4))
    cred = query.get("X-Amz-Credential")
    if cred:
        parts = cred.split("/")
        if len(parts) >= 4:
            return Credential(parts[0], parts[2], parts[3])
    return None


def service_for(headers: Mapping[str, str], path: str, cred: Credential | None) -> str:
    signing = cred.service if cred else ""
    if signing == "s3":
        return "s3"
    target = headers.get("x-amz-target")
    if target:
        prefix = target.rpartition(".")[0]
        service = target_prefixes().get(prefix)
        if service:
            return service
    if signing == "sagemaker" or not signing:
        if path.startswith("/endpoints/"):
            return "sagemaker-runtime"
        if path.startswith(_FEATURESTORE_PATHS):
            return "sagemaker-featurestore-runtime"
        if path.startswith(_METRICS_PATHS):
            return "sagemaker-metrics"
    if signing in _SCOPE_SERVICES:
        return _SCOPE_SERVICES[signing]
    if signing == "sagemaker":
        return "sagemaker"
    if signing:
        return signing  # a service Kiln does not serve (dynamodb, ...): the gateway says so
    if target:
        return target.rpartition(".")[0] or target
    return "s3"


def virtual_host_bucket(host: str, own_hosts: tuple[str, ...] = ()) -> str | None:
    """The bucket named by a virtual-host-style S3 host (`bucket.s3.localhost:8437`), if any."""
    name = host.lower()
    if name.split(":", 1)[0] in own_hosts:
        return None
    m = _VHOST.match(name)
    return m.group("bucket") if m else None
