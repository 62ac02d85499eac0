"""`AsyncInferenceConfig` of an endpoint config: validated as SageMaker does at CreateEndpointConfig,
and read into `AsyncSettings` (snake_case) for the queue and its workers.

Kiln defaults: MaxConcurrentInvocationsPerInstance 1 when absent (SageMaker "chooses an optimal
value"; Kiln's model server answers one prediction at a time, so more would only queue inside it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kiln.core.errors import InvalidInput
from kiln.core.scope import Scope

DEFAULT_CONCURRENCY = 1
DEFAULT_TTL = 21600  # RequestTTLSeconds default: 6 hours
DEFAULT_TIMEOUT = 900  # InvocationTimeoutSeconds default: 15 minutes
_TOPIC = re.compile(r"^arn:aws[a-z\-]*:sns:([a-z0-9\-]*):([0-9]{12}):([a-zA-Z0-9_.-]+)$")
INCLUDE = ("SUCCESS_NOTIFICATION_TOPIC", "ERROR_NOTIFICATION_TOPIC")


@dataclass(frozen=True, slots=True)
class AsyncSettings:
    output_path: str
    failure_path: str | None
    success_topic: str | None
    error_topic: str | None
    include_response_in: tuple[str, ...]
    max_concurrency: int

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> AsyncSettings:
        out = cfg.get("OutputConfig") or {}
        note = out.get("NotificationConfig") or {}
        client = cfg.get("ClientConfig") or {}
        return cls(str(out.get("S3OutputPath") or "").rstrip("/"), (out.get("S3FailurePath") or "").rstrip("/") or None,
                   note.get("SuccessTopic") or None, note.get("ErrorTopic") or None,
                   tuple(note.get("IncludeInferenceResponseIn") or ()),
                   int(client.get("MaxConcurrentInvocationsPerInstance") or DEFAULT_CONCURRENCY))

    def to_json(self) -> dict[str, Any]:
        return {"output_path": self.output_path, "failure_path": self.failure_path,
                "success_topic": self.success_topic, "error_topic": self.error_topic,
                "include_response_in": list(self.include_response_in), "max_concurrency": self.max_concurrency}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AsyncSettings:
        return cls(d["output_path"], d.get("failure_path"), d.get("success_topic"), d.get("error_topic"),
                   tuple(d.get("include_response_in") or ()), int(d.get("max_concurrency") or DEFAULT_CONCURRENCY))


def of_endpoint_config(spec: dict[str, Any]) -> AsyncSettings | None:
    cfg = spec.get("AsyncInferenceConfig")
    return AsyncSettings.from_config(cfg) if cfg else None


def _s3(field: str, value: str) -> None:
    if value.startswith("https://"):
        raise InvalidInput(f"{field} {value!r}: Kiln reads and writes s3:// locations only; use "
                           "s3://<bucket>/<prefix>.")
    if not re.match(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$", value):
        raise InvalidInput(f"{field} {value!r} is not a valid S3 URI: expected s3://<bucket>/<prefix>.")


def validate(spec: dict[str, Any], scope: Scope) -> None:
    """Check an endpoint config's AsyncInferenceConfig (if any). Raises InvalidInput naming the field."""
    cfg = spec.get("AsyncInferenceConfig")
    if cfg is None:
        return
    out = cfg.get("OutputConfig") or {}
    prefix = "AsyncInferenceConfig.OutputConfig"
    if not out.get("S3OutputPath"):
        raise InvalidInput(f"{prefix}.S3OutputPath is required: the S3 location responses are written to.")
    _s3(f"{prefix}.S3OutputPath", out["S3OutputPath"])
    if out.get("S3FailurePath"):
        _s3(f"{prefix}.S3FailurePath", out["S3FailurePath"])
    note = out.get("NotificationConfig") or {}
    for key in ("SuccessTopic", "ErrorTopic"):
        arn = note.get(key)
        if not arn:
            continue
        m = _TOPIC.match(arn)
        if m is None:
            raise InvalidInput(f"{prefix}.NotificationConfig.{key} {arn!r} is not an SNS topic ARN.")
        if (m.group(1), m.group(2)) != (scope.region, scope.account_id):
            raise InvalidInput(f"{prefix}.NotificationConfig.{key} {arn!r} must be a topic of account "
                               f"{scope.account_id} in {scope.region}.")
    for entry in note.get("IncludeInferenceResponseIn") or ():
        needed = "SuccessTopic" if entry == INCLUDE[0] else "ErrorTopic"
        if not note.get(needed):
            raise InvalidInput(f"{prefix}.NotificationConfig.IncludeInferenceResponseIn names {entry} but "
                               f"{needed} is not set.")
    for pv in spec.get("ProductionVariants") or ():
        if pv.get("ServerlessConfig"):
            raise InvalidInput(f"Variant {pv.get('VariantName')}: AsyncInferenceConfig cannot be used with "
                               "ServerlessConfig; async endpoints run on instances.")


ASYNC_PAYLOAD_MB = 1024  # SageMaker asynchronous inference takes payloads up to 1 GB


def large_payloads(model_spec: dict[str, Any]) -> dict[str, Any]:
    """The CreateModel spec an async endpoint's replicas run: its model server accepts payloads up to
    1 GB (`SAGEMAKER_MAX_PAYLOAD_IN_MB`, unless the model's Environment sets it), not real-time's 6 MB."""
    key = "PrimaryContainer" if model_spec.get("PrimaryContainer") else "Containers"
    if key == "Containers":
        containers = [_with_limit(c) for c in model_spec.get("Containers") or []]
        return {**model_spec, "Containers": containers}
    return {**model_spec, "PrimaryContainer": _with_limit(model_spec["PrimaryContainer"])}


def _with_limit(container: dict[str, Any]) -> dict[str, Any]:
    env = dict(container.get("Environment") or {})
    env.setdefault("SAGEMAKER_MAX_PAYLOAD_IN_MB", str(ASYNC_PAYLOAD_MB))
    return {**container, "Environment": env}
