"""SageMaker's async-inference notification (the JSON it publishes to the SuccessTopic/ErrorTopic),
published through Kiln's SNS. Field names follow the "Check prediction results" page of the
SageMaker developer guide; `responseBody` (IncludeInferenceResponseIn) is unverified."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from typing import Any

from kiln.core.errors import DomainError
from kiln.services.hosting.asyncq.config import INCLUDE, AsyncSettings
from kiln.services.hosting.asyncq.store import AsyncRequest, RequestStatus
from kiln.services.sns.delivery import iso

LOG = logging.getLogger(__name__)
MAX_INCLUDED = 128 * 1024


def wants_response(r: AsyncRequest) -> bool:
    """Whether the notification of finished `r` is to carry the answer (IncludeInferenceResponseIn)."""
    wanted = INCLUDE[0] if r.status == RequestStatus.COMPLETED else INCLUDE[1]
    return wanted in AsyncSettings.from_json(r.settings).include_response_in


def message(r: AsyncRequest, response: bytes | None) -> dict[str, Any]:
    """The notification of a finished request; `response` is the model's answer (or error) body."""
    ok = r.status == RequestStatus.COMPLETED
    request: dict[str, Any] = {"endpointName": r.endpoint}
    if r.content_type:
        request["contentType"] = r.content_type
    if r.accept:
        request["accept"] = r.accept
    if r.custom_attributes:
        request["customAttributes"] = r.custom_attributes
    if r.input_location:
        request["inputLocation"] = r.input_location
    out: dict[str, Any] = {"awsRegion": r.scope.region, "eventTime": iso(r.finished_at or r.received_at),
                           "receivedTime": iso(r.received_at), "invocationStatus": "Completed" if ok else "Failed"}
    if not ok:
        out["failureReason"] = r.failure_reason or "Unknown"
    out["requestParameters"] = request
    if ok:
        out["responseParameters"] = {"contentType": r.output_content_type or "application/octet-stream",
                                     "outputLocation": r.output_location}
    elif r.failure_location and r.output_content_type is not None:
        out["responseParameters"] = {"contentType": r.output_content_type, "failureLocation": r.failure_location}
    if response is not None and wants_response(r) and len(response) <= MAX_INCLUDED:
        out["responseBody"] = {"content": base64.b64encode(response).decode(), "encoding": "BASE64"}  # unverified
    out.update({"inferenceId": r.inference_id, "eventVersion": "1.0", "eventSource": "aws:sagemaker",
                "eventName": "InferenceResult"})
    return out


def publish(sns: Any, r: AsyncRequest, response: bytes | None) -> None:
    """Publish to the request's success or error topic (if it has one). A topic that does not exist
    (deleted since) is logged, as SageMaker cannot publish to it either."""
    settings = AsyncSettings.from_json(r.settings)
    topic = settings.success_topic if r.status == RequestStatus.COMPLETED else settings.error_topic
    if not topic or sns is None:
        return
    try:
        # One message id per request: publishing again after a crash is a no-op, never a second notification.
        sns.publish(r.scope, topic, json.dumps(message(r, response)),
                    message_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"kiln-async:{r.id}")))
    except DomainError as exc:
        LOG.warning("async inference %s: cannot publish to %s: %s", r.inference_id, topic, exc.message)
