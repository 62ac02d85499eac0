"""AWS shapes <-> hosting domain: Describe*/List* responses (the only PascalCase outside aws/)."""

from __future__ import annotations

from typing import Any

from kiln.services.hosting.models import Deployment, Endpoint, EndpointConfig, Model, Variant


def describe_model(m: Model) -> dict[str, Any]:
    out = {**m.spec, "ModelArn": m.arn, "CreationTime": m.created_at}
    out.setdefault("EnableNetworkIsolation", False)
    return out


def model_summary(m: Model) -> dict[str, Any]:
    return {"ModelName": m.name, "ModelArn": m.arn, "CreationTime": m.created_at}


def describe_config(c: EndpointConfig) -> dict[str, Any]:
    out = {**c.spec, "EndpointConfigArn": c.arn, "CreationTime": c.created_at}
    out.setdefault("EnableNetworkIsolation", False)
    return out


def config_summary(c: EndpointConfig) -> dict[str, Any]:
    return {"EndpointConfigName": c.name, "EndpointConfigArn": c.arn, "CreationTime": c.created_at}


def _variant(v: Variant, created_at: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "VariantName": v.name,
        "DeployedImages": [{"SpecifiedImage": v.image, "ResolvedImage": v.image, "ResolutionTime": created_at}],
        "CurrentWeight": v.current_weight, "DesiredWeight": v.desired_weight,
    }
    if not v.serverless:  # a serverless variant has no instances to count
        out["CurrentInstanceCount"], out["DesiredInstanceCount"] = v.current_count, v.desired_count
    if v.status:
        out["VariantStatus"] = v.status
    if v.serverless:
        out["CurrentServerlessConfig"] = v.current_serverless or v.serverless
        out["DesiredServerlessConfig"] = v.serverless
    return out


def _capture(d: Deployment) -> dict[str, Any] | None:
    cfg = d.config.get("DataCaptureConfig")
    if not cfg:
        return None
    enabled = bool(cfg.get("EnableCapture", True))
    return {"EnableCapture": enabled, "CaptureStatus": "Started" if enabled else "Stopped",
            "CurrentSamplingPercentage": int(cfg.get("InitialSamplingPercentage", 0)),
            "DestinationS3Uri": cfg["DestinationS3Uri"], "KmsKeyId": cfg.get("KmsKeyId", "")}


def describe_endpoint(e: Endpoint) -> dict[str, Any]:
    out: dict[str, Any] = {
        "EndpointName": e.name, "EndpointArn": e.arn, "EndpointConfigName": e.current.config_name,
        "ProductionVariants": [_variant(v, e.created_at) for v in e.current.variants],
        "EndpointStatus": e.status.value, "CreationTime": e.created_at, "LastModifiedTime": e.modified_at,
    }
    capture = _capture(e.current)
    if capture:
        out["DataCaptureConfig"] = capture
    if e.failure_reason:
        out["FailureReason"] = e.failure_reason
    if e.deployment_config:
        out["LastDeploymentConfig"] = e.deployment_config
    for key in ("AsyncInferenceConfig", "ExplainerConfig"):
        if e.current.config.get(key):
            out[key] = e.current.config[key]
    if e.pending is not None:
        out["PendingDeploymentSummary"] = {
            "EndpointConfigName": e.pending.config_name, "StartTime": e.modified_at,
            "ProductionVariants": [{k: v for k, v in _variant(pv, e.modified_at).items()
                                    if k not in ("CurrentServerlessConfig", "DesiredServerlessConfig")}
                                   for pv in e.pending.variants]}
    return out


def endpoint_summary(e: Endpoint) -> dict[str, Any]:
    return {"EndpointName": e.name, "EndpointArn": e.arn, "CreationTime": e.created_at,
            "LastModifiedTime": e.modified_at, "EndpointStatus": e.status.value}
