"""application-autoscaling operations (JSON 1.1, `AnyScaleFrontendService`). Translation only."""

from __future__ import annotations

from typing import Any

from kiln.aws import errors
from kiln.aws.context import RequestContext
from kiln.aws.dispatch import Provider, operation
from kiln.aws.pagination import page
from kiln.core import errors as domain
from kiln.services.autoscaling.service import AutoscalingService
from kiln.services.autoscaling.store import Activity, Policy, Target

ObjectNotFoundException = errors.error("ObjectNotFoundException")


def _target(t: Target) -> dict[str, Any]:
    return {"ServiceNamespace": t.key.namespace, "ResourceId": t.key.resource_id, "ScalableDimension": t.key.dimension,
            "MinCapacity": t.min_capacity, "MaxCapacity": t.max_capacity, "RoleARN": t.role_arn,
            "CreationTime": t.created_at, "ScalableTargetARN": t.arn,
            "SuspendedState": {"DynamicScalingInSuspended": bool(t.suspended.get("DynamicScalingInSuspended")),
                               "DynamicScalingOutSuspended": bool(t.suspended.get("DynamicScalingOutSuspended")),
                               "ScheduledScalingSuspended": bool(t.suspended.get("ScheduledScalingSuspended"))}}


def _policy(p: Policy) -> dict[str, Any]:
    out = {"PolicyARN": p.arn, "PolicyName": p.name, "ServiceNamespace": p.key.namespace,
           "ResourceId": p.key.resource_id, "ScalableDimension": p.key.dimension, "PolicyType": p.policy_type,
           "Alarms": p.alarms, "CreationTime": p.created_at}
    field = ("TargetTrackingScalingPolicyConfiguration" if p.policy_type == "TargetTrackingScaling"
             else "StepScalingPolicyConfiguration")
    out[field] = p.config
    return out


def _activity(a: Activity) -> dict[str, Any]:
    out: dict[str, Any] = {"ActivityId": a.id, "ServiceNamespace": a.key.namespace, "ResourceId": a.key.resource_id,
                           "ScalableDimension": a.key.dimension, "Description": a.description, "Cause": a.cause,
                           "StartTime": a.start, "StatusCode": a.status}
    if a.end is not None:
        out["EndTime"] = a.end
    if a.message:
        out["StatusMessage"] = a.message
    return out


class AutoscalingProvider(Provider):
    service = "application-autoscaling"

    def __init__(self, scaling: AutoscalingService) -> None:
        self.scaling = scaling

    def domain_errors(self, err: domain.DomainError) -> errors.AwsError:
        match err:
            case domain.NotFound():
                return ObjectNotFoundException(err.message)
            case domain.InvalidInput() | domain.InvalidState() | domain.AlreadyExists():
                return errors.ValidationException(err.message)
        return errors.error("InternalServiceException", 500, sender_fault=False)("An internal error occurred.")

    @operation("RegisterScalableTarget")
    def register_scalable_target(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return {"ScalableTargetARN": self.scaling.register(ctx.scope, request).arn}

    @operation("DeregisterScalableTarget")
    def deregister_scalable_target(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.scaling.deregister(ctx.scope, request)
        return {}

    @operation("DescribeScalableTargets")
    def describe_scalable_targets(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        items = self.scaling.store.targets(ctx.scope, request["ServiceNamespace"])
        if request.get("ResourceIds"):
            items = [t for t in items if t.key.resource_id in request["ResourceIds"]]
        if request.get("ScalableDimension"):
            items = [t for t in items if t.key.dimension == request["ScalableDimension"]]
        chunk, token = page(items, request.get("NextToken"), request.get("MaxResults"), default=50)
        return {"ScalableTargets": [_target(t) for t in chunk], "NextToken": token}

    @operation("PutScalingPolicy")
    def put_scaling_policy(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        policy = self.scaling.put_policy(ctx.scope, request)
        return {"PolicyARN": policy.arn, "Alarms": policy.alarms}

    @operation("DeleteScalingPolicy")
    def delete_scaling_policy(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.scaling.delete_policy(ctx.scope, request)
        return {}

    @operation("DescribeScalingPolicies")
    def describe_scaling_policies(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        items = self.scaling.store.policies(ctx.scope, request["ServiceNamespace"])
        if request.get("PolicyNames"):
            items = [p for p in items if p.name in request["PolicyNames"]]
        if request.get("ResourceId"):
            items = [p for p in items if p.key.resource_id == request["ResourceId"]]
        if request.get("ScalableDimension"):
            items = [p for p in items if p.key.dimension == request["ScalableDimension"]]
        chunk, token = page(items, request.get("NextToken"), request.get("MaxResults"), default=50)
        return {"ScalingPolicies": [_policy(p) for p in chunk], "NextToken": token}

    @operation("DescribeScalingActivities")
    def describe_scaling_activities(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        items = self.scaling.store.activities(ctx.scope, request["ServiceNamespace"], request.get("ResourceId"),
                                              request.get("ScalableDimension"))
        if not request.get("IncludeNotScaledActivities"):
            items = [a for a in items if a.status != "NotScaled"]
        chunk, token = page(items, request.get("NextToken"), request.get("MaxResults"), default=50)
        return {"ScalingActivities": [_activity(a) for a in chunk], "NextToken": token}
