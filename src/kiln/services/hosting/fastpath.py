"""InvokeEndpoint on plain ASGI: `POST /endpoints/<name>/invocations` goes straight to the runtime
provider, skipping the gateway's generic routing, parsing and validation (about 60 µs of Python per
request, most of Kiln's overhead over calling the model directly). Everything else, and any request
this path is not sure about (a query string, a compressed or chunked body, `Expect`, a signature for
another service, an over-long header), falls through to the gateway unchanged.

Same contract as through the gateway: the same provider method does the work, errors are
serialized by the rest-json codec exactly as the gateway would, and responses carry
`x-amzn-RequestId`. What this path checks itself is what the gateway would have rejected: the name
(pattern and length from the model) and the header lengths; the body limit is the provider's.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from kiln.aws import errors
from kiln.aws.context import RequestContext
from kiln.aws.protocol.rest_json import RestJsonCodec
from kiln.aws.specs import service_model
from kiln.core import ids
from kiln.core.errors import DomainError
from kiln.core.scope import Scope as KilnScope
from kiln.services.hosting.runtime import MAX_PAYLOAD, RuntimeProvider, payload_too_large

LOG = logging.getLogger(__name__)

_PATH = re.compile(r"^/endpoints/([a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})/invocations$")
_CREDENTIAL = re.compile(rb"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
# request header -> InvokeEndpoint member (all strings of at most 1024 characters)
_MEMBERS = {b"content-type": "ContentType", b"accept": "Accept",
            b"x-amzn-sagemaker-custom-attributes": "CustomAttributes",
            b"x-amzn-sagemaker-target-variant": "TargetVariant", b"x-amzn-sagemaker-inference-id": "InferenceId",
            b"x-amzn-sagemaker-target-model": "TargetModel"}
_FALLBACK = frozenset({b"content-encoding", b"transfer-encoding", b"expect", b"x-amz-target",
                       b"x-amzn-sagemaker-target-container-hostname", b"x-amzn-sagemaker-enable-explanations",
                       b"x-amzn-sagemaker-inference-component", b"x-amzn-sagemaker-session-id",
                       b"x-amzn-sagemaker-prefix-aware-id"})
_LIMITS = {"TargetVariant": 63, "InferenceId": 64}

Scope = dict[str, Any]


class InvokeFastPath:
    def __init__(self, fallback: Any, provider: RuntimeProvider, account_id: str, region: str) -> None:
        self.fallback = fallback
        self.provider = provider
        self.account_id = account_id
        self.region = region
        self.codec = RestJsonCodec()
        self.service = service_model("sagemaker-runtime")
        self.operation = self.service.operation_model("InvokeEndpoint")

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("query_string"):
            await self.fallback(scope, receive, send)
            return
        m = _PATH.match(scope["path"])
        request = self._request(scope) if m else None
        if request is None:
            await self.fallback(scope, receive, send)
            return
        request["EndpointName"] = m.group(1)  # type: ignore[union-attr]
        region = request.pop("_region", self.region)
        ctx = RequestContext("sagemaker-runtime", "InvokeEndpoint", KilnScope(self.account_id, region),
                             ids.request_id(), request.pop("_key", "anonymous"))
        try:
            request["Body"] = await self._body(receive)
            result = await self.provider.invoke_endpoint(ctx, request)
        except errors.AwsError as err:
            await self._error(send, err, ctx)
            return
        except DomainError as err:
            await self._error(send, self.provider.domain_errors(err), ctx)
            return
        except Exception:
            LOG.exception("internal error in sagemaker-runtime:InvokeEndpoint")
            await self._error(send, errors.InternalFailure("We encountered an internal error. Please try again."),
                              ctx)
            return
        body = result["Body"]
        headers = [(b"content-type", result["ContentType"].encode("latin-1")),
                   (b"x-amzn-invoked-production-variant", result["InvokedProductionVariant"].encode("latin-1")),
                   (b"x-amzn-requestid", ctx.request_id.encode()), (b"content-length", str(len(body)).encode())]
        if "CustomAttributes" in result:
            headers.append((b"x-amzn-sagemaker-custom-attributes", result["CustomAttributes"].encode("latin-1")))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _request(self, scope: Scope) -> dict[str, Any] | None:
        """The members carried in headers, or None when the gateway should take the request."""
        out: dict[str, Any] = {}
        for name, value in scope["headers"]:
            member = _MEMBERS.get(name)
            if member is not None:
                if len(value) > _LIMITS.get(member, 1024) or not value.isascii():
                    return None
                out[member] = value.decode("latin-1")
            elif name == b"authorization":
                cred = _CREDENTIAL.search(value)
                if cred is not None:
                    if cred.group(3) != b"sagemaker":
                        return None
                    out["_key"], out["_region"] = cred.group(1).decode(), cred.group(2).decode()
            elif name in _FALLBACK:
                return None
        return out

    @staticmethod
    async def _body(receive: Any) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > MAX_PAYLOAD:
                    raise payload_too_large(size)
                chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _error(self, send: Any, err: errors.AwsError, ctx: RequestContext) -> None:
        response = self.codec.serialize_error(self.service, self.operation, err, ctx)
        response.headers.setdefault("x-amzn-RequestId", ctx.request_id)
        body = response.body if isinstance(response.body, bytes) else b""
        raw = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in response.headers.items()
               if k.lower() != "content-length"]
        raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": raw})
        await send({"type": "http.response.body", "body": body})
