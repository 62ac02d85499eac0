"""Application Auto Scaling use-cases for SageMaker endpoint variants: scalable targets and
target tracking policies. The loop that acts on them is `loop.py`.

Two scalable dimensions: an instance variant's `DesiredInstanceCount` (tracked predefined metric
`SageMakerVariantInvocationsPerInstance`), and a serverless variant's `DesiredProvisionedConcurrency`
(`SageMakerVariantProvisionedConcurrencyUtilization`); the variant must have provisioned concurrency
to register the latter, whose minimum is 1."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from kiln.core import arns
from kiln.core.errors import InvalidInput, NotFound
from kiln.core.scope import Scope
from kiln.services.autoscaling.store import AutoscalingStore, Policy, Target, TargetKey

NAMESPACE = "sagemaker"
INSTANCES = "sagemaker:variant:DesiredInstanceCount"
PROVISIONED = "sagemaker:variant:DesiredProvisionedConcurrency"
PREDEFINED = {INSTANCES: "SageMakerVariantInvocationsPerInstance",
              PROVISIONED: "SageMakerVariantProvisionedConcurrencyUtilization"}


def parse_resource(resource_id: str) -> tuple[str, str]:
    """`endpoint/<endpoint>/variant/<variant>` -> (endpoint, variant)."""
    parts = resource_id.split("/")
    if len(parts) != 4 or parts[0] != "endpoint" or parts[2] != "variant" or not parts[1] or not parts[3]:
        raise InvalidInput(f"Unsupported resource ID {resource_id!r}: expected endpoint/<name>/variant/<variant>.")
    return parts[1], parts[3]


def not_registered(key: TargetKey) -> NotFound:
    return NotFound("ScalableTarget", key.resource_id,
                    f"No scalable target registered for service namespace: {key.namespace}, resource ID: "
                    f"{key.resource_id}, scalable dimension: {key.dimension}")


class AutoscalingService:
    def __init__(self, store: AutoscalingStore, endpoints: Any, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.endpoints = endpoints  # kiln.services.hosting.service.HostingService
        self.clock = clock
        self.notify: Callable[[], None] = lambda: None

    def key(self, scope: Scope, request: dict[str, Any]) -> TargetKey:
        namespace, dimension = request["ServiceNamespace"], request["ScalableDimension"]
        if namespace != NAMESPACE:
            raise InvalidInput(f"Kiln scales SageMaker endpoint variants only; ServiceNamespace {namespace} is not "
                               "supported.")
        if dimension not in PREDEFINED:
            raise InvalidInput(f"Unsupported scalable dimension {dimension} for service namespace {namespace}.")
        return TargetKey(scope, namespace, request["ResourceId"], dimension)

    def register(self, scope: Scope, request: dict[str, Any]) -> Target:
        key = self.key(scope, request)
        endpoint, variant = parse_resource(key.resource_id)
        e = self.endpoints.repo.get_endpoint(scope, endpoint)
        if e is None or e.current.variant(variant) is None:
            raise InvalidInput(f"The endpoint variant {key.resource_id} does not exist.")  # unverified
        old = self.store.get_target(key)
        lo, hi = request.get("MinCapacity"), request.get("MaxCapacity")
        if old is None and (lo is None or hi is None):
            raise InvalidInput("MinCapacity and MaxCapacity are required to register a new scalable target.")
        target = old or Target(key, 0, 0, "", {}, arns.arn(scope, "application-autoscaling",
                                                           f"scalable-target/{uuid.uuid4().hex[:28]}"), self.clock())
        target.min_capacity = int(lo) if lo is not None else target.min_capacity
        target.max_capacity = int(hi) if hi is not None else target.max_capacity
        if target.min_capacity > target.max_capacity:
            raise InvalidInput("Minimum capacity cannot be greater than maximum capacity")
        v = e.current.variant(variant)
        assert v is not None
        if key.dimension == PROVISIONED:
            _check_provisioned(key.resource_id, v.serverless, target.min_capacity)
        elif v.serverless is not None:
            raise InvalidInput(f"The variant {key.resource_id} is serverless: it has no instance count to scale. "
                               f"Register the scalable dimension {PROVISIONED} to scale its provisioned "
                               "concurrency.")  # unverified
        elif target.min_capacity < 1 and not e.current.config.get("AsyncInferenceConfig"):
            # Only asynchronous endpoints may scale to zero instances (their queue keeps the requests).
            raise InvalidInput(f"The minimum capacity for {key.resource_id} must be at least 1; only "
                               "asynchronous inference endpoints can scale down to 0 instances.")  # unverified
        target.role_arn = request.get("RoleARN") or target.role_arn or arns.role(
            scope.account_id, "aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
            "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")
        if "SuspendedState" in request:
            target.suspended = dict(request["SuspendedState"])
        self.store.put_target(target)
        self.notify()
        return target

    def deregister(self, scope: Scope, request: dict[str, Any]) -> None:
        key = self.key(scope, request)
        if not self.store.delete_target(key):
            raise not_registered(key)

    def put_policy(self, scope: Scope, request: dict[str, Any]) -> Policy:
        key = self.key(scope, request)
        if self.store.get_target(key) is None:
            raise not_registered(key)
        kind = request.get("PolicyType") or "StepScaling"
        if kind == "TargetTrackingScaling":
            config = request.get("TargetTrackingScalingPolicyConfiguration")
            if not config:
                raise InvalidInput("TargetTrackingScalingPolicyConfiguration is required for TargetTrackingScaling.")
            predefined = (config.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
            if predefined is None and not config.get("CustomizedMetricSpecification"):
                raise InvalidInput("Either a PredefinedMetricSpecification or a CustomizedMetricSpecification is "
                                   "required.")
            if predefined is not None and predefined != PREDEFINED[key.dimension]:
                raise InvalidInput(f"The predefined metric {predefined} does not apply to the scalable dimension "
                                   f"{key.dimension}; use {PREDEFINED[key.dimension]}.")  # unverified
        elif kind == "StepScaling":
            config = request.get("StepScalingPolicyConfiguration")
            if not config:
                raise InvalidInput("StepScalingPolicyConfiguration is required for StepScaling.")
        else:
            raise InvalidInput(f"Kiln does not support policy type {kind}.")
        policy_id = uuid.uuid4()
        alarms = []
        if kind == "TargetTrackingScaling":
            for side in ("AlarmHigh", "AlarmLow"):
                name = f"TargetTracking-{key.resource_id}-{side}-{uuid.uuid4()}"
                alarms.append({"AlarmName": name, "AlarmARN": arns.arn(scope, "cloudwatch", f"alarm:{name}")})
        policy = Policy(key, request["PolicyName"], kind, config, arns.arn(
            scope, "autoscaling", f"scalingPolicy:{policy_id}:resource/{key.namespace}/{key.resource_id}:"
            f"policyName/{request['PolicyName']}"), alarms, self.clock())
        saved = self.store.put_policy(policy)
        self.notify()
        return saved

    def delete_policy(self, scope: Scope, request: dict[str, Any]) -> None:
        key = self.key(scope, request)
        if not self.store.delete_policy(key, request["PolicyName"]):
            raise NotFound("ScalingPolicy", request["PolicyName"],
                           f"No scaling policy found for service namespace: {key.namespace}, resource ID: "
                           f"{key.resource_id}, scalable dimension: {key.dimension}, policy name: "
                           f"{request['PolicyName']}")


def _check_provisioned(resource_id: str, serverless: dict[str, Any] | None, min_capacity: int) -> None:
    if serverless is None or not serverless.get("ProvisionedConcurrency"):
        raise InvalidInput(f"The variant {resource_id} has no provisioned concurrency to scale: deploy it as a "
                           "serverless variant with ProvisionedConcurrency first.")  # unverified
    if min_capacity < 1:
        raise InvalidInput(f"The minimum provisioned concurrency for {resource_id} must be at least 1.")  # unverified
