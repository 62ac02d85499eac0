"""TrainingJob <-> SageMaker's wire shapes. The only place with PascalCase keys besides provider.py."""

from __future__ import annotations

from typing import Any

from kiln.services.training.models import TrainingJob
from kiln.services.training.service import TrainingService

# Members of CreateTrainingJob echoed by DescribeTrainingJob.
_ECHO = ("AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig", "ResourceConfig",
         "VpcConfig", "StoppingCondition", "HyperParameters", "EnableNetworkIsolation",
         "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining", "CheckpointConfig",
         "DebugHookConfig", "DebugRuleConfigurations", "TensorBoardOutputConfig", "ExperimentConfig",
         "ProfilerConfig", "Environment", "RetryStrategy", "RemoteDebugConfig", "InfraCheckConfig",
         "SessionChainingConfig")


def describe(job: TrainingJob) -> dict[str, Any]:
    spec = job.spec
    out: dict[str, Any] = {k: spec[k] for k in _ECHO if spec.get(k) is not None}
    out["OutputDataConfig"] = {"KmsKeyId": "", **spec["OutputDataConfig"]}
    out["ResourceConfig"] = {"VolumeSizeInGB": 30, **spec["ResourceConfig"]}
    out["StoppingCondition"] = {"MaxRuntimeInSeconds": job.max_runtime, **(spec.get("StoppingCondition") or {})}
    out.setdefault("HyperParameters", {})
    out["AlgorithmSpecification"] = {"TrainingInputMode": "File", **spec["AlgorithmSpecification"]}
    for flag in ("EnableNetworkIsolation", "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining"):
        out.setdefault(flag, False)
    training, billable = TrainingService.billing(job)
    out.update({
        "TrainingJobName": job.name,
        "TrainingJobArn": job.arn,
        "TrainingJobStatus": job.status.value,
        "SecondaryStatus": job.secondary_status.value,
        "SecondaryStatusTransitions": [_transition(t) for t in job.transitions],
        "CreationTime": job.created_at,
        "LastModifiedTime": job.modified_at,
        "ModelArtifacts": {"S3ModelArtifacts": job.model_artifacts or ""},
        "FinalMetricDataList": job.final_metrics,
    })
    if job.tuning_job_arn:
        out["TuningJobArn"] = job.tuning_job_arn
    if job.training_start is not None:
        out["TrainingStartTime"] = job.training_start
        out["TrainingTimeInSeconds"] = training
        out["BillableTimeInSeconds"] = billable
    if job.training_end is not None:
        out["TrainingEndTime"] = job.training_end
    if job.failure_reason:
        out["FailureReason"] = job.failure_reason
    if not job.model_artifacts:
        del out["ModelArtifacts"]
    return out


def _transition(t: Any) -> dict[str, Any]:
    out = {"Status": t.status, "StartTime": t.start, "StatusMessage": t.message}
    if t.end is not None:
        out["EndTime"] = t.end
    return out


def summary(job: TrainingJob) -> dict[str, Any]:
    out: dict[str, Any] = {
        "TrainingJobName": job.name, "TrainingJobArn": job.arn, "CreationTime": job.created_at,
        "LastModifiedTime": job.modified_at, "TrainingJobStatus": job.status.value,
        "SecondaryStatus": job.secondary_status.value,
    }
    if job.training_end is not None:
        out["TrainingEndTime"] = job.training_end
    return out
