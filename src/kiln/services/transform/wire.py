"""TransformJob <-> SageMaker's wire shapes (PascalCase lives here and in provider.py only)."""

from __future__ import annotations

from typing import Any

from kiln.services.transform.models import TransformJob

# Members of CreateTransformJob that DescribeTransformJob echoes.
_ECHO = ("ModelName", "MaxConcurrentTransforms", "ModelClientConfig", "MaxPayloadInMB", "BatchStrategy",
         "Environment", "TransformInput", "TransformOutput", "DataCaptureConfig", "TransformResources",
         "DataProcessing", "ExperimentConfig")


def describe(job: TransformJob) -> dict[str, Any]:
    spec = job.spec
    out: dict[str, Any] = {k: spec[k] for k in _ECHO if spec.get(k) is not None}
    out["TransformInput"] = {"CompressionType": "None", "SplitType": "None", **spec["TransformInput"]}
    out["TransformOutput"] = {"AssembleWith": "None", **spec["TransformOutput"]}
    out.setdefault("Environment", {})
    out.update({
        "TransformJobName": job.name,
        "TransformJobArn": job.arn,
        "TransformJobStatus": job.status.value,
        "CreationTime": job.created_at,
    })
    if job.failure_reason:
        out["FailureReason"] = job.failure_reason
    if job.transform_start is not None:
        out["TransformStartTime"] = job.transform_start
    if job.transform_end is not None:
        out["TransformEndTime"] = job.transform_end
    return out


def summary(job: TransformJob) -> dict[str, Any]:
    out: dict[str, Any] = {
        "TransformJobName": job.name, "TransformJobArn": job.arn, "CreationTime": job.created_at,
        "LastModifiedTime": job.modified_at, "TransformJobStatus": job.status.value,
    }
    if job.transform_end is not None:
        out["TransformEndTime"] = job.transform_end
    if job.failure_reason:
        out["FailureReason"] = job.failure_reason
    return out
