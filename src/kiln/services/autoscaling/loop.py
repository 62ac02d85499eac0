"""The autoscaling loop: every `interval` seconds, for each registered SageMaker variant with target
tracking policies, read the metric over the last `window` seconds from the MetricStore, ask the pure
policy (`policy.py`) for a count, honour cooldowns, and set the variant's desired instance count
through the hosting service (whose reconciler starts or drains replicas). Each change is a scaling
activity: `InProgress` until the endpoint is back `InService` at that count.

`SageMakerVariantInvocationsPerInstance` is the `AWS/SageMaker` `InvocationsPerInstance` Sum over the
window, per minute; `SageMakerVariantProvisionedConcurrencyUtilization` (a serverless variant's
provisioned concurrency, the other scalable dimension) is `ServerlessProvisionedConcurrencyUtilization`
averaged over the window. For both, no datapoint means no traffic (0), so an idle variant scales in.
A customized metric is the policy's Statistic over the window; no datapoint means no action.

Step scaling policies act through CloudWatch alarms (`alarms.py`): each tick evaluates the alarms, and
a policy named in the `AlarmActions` of an alarm in `ALARM` asks for the step that matches the
alarm's newest value; its `Cooldown` applies both ways. Proposals of all policies combine as the
largest count.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from kiln.core.errors import DomainError
from kiln.core.loop import ControlLoop
from kiln.services.autoscaling import alarms as cw
from kiln.services.autoscaling import policy as pure
from kiln.services.autoscaling.service import INSTANCES, PREDEFINED, PROVISIONED, parse_resource
from kiln.services.autoscaling.store import Activity, AutoscalingStore, Policy, Target

LOG = logging.getLogger(__name__)


class AutoscalingLoop:
    def __init__(self, store: AutoscalingStore, endpoints: Any, metrics: Any, *, interval: float = 10.0,
                 window: float = 60.0, clock: Callable[[], float] = time.time,
                 alarms: cw.AlarmStore | None = None) -> None:
        self.store = store
        self.alarms = alarms
        self._firing: dict[str, cw.Alarm] = {}  # policy ARN -> an alarm in ALARM that names it
        self.endpoints = endpoints  # HostingService
        self.metrics = metrics  # MetricStore
        self.interval = interval
        self.window = window
        self.clock = clock
        self._control = ControlLoop("autoscaling", lambda: asyncio.to_thread(self.tick), interval)

    def notify(self) -> None:
        self._control.notify()

    async def start(self) -> None:
        self._control.start()

    async def stop(self) -> None:
        await self._control.stop()

    def tick(self) -> None:
        self._evaluate_alarms()
        for target in self.store.targets():
            try:
                self.evaluate(target)
            except Exception:
                LOG.exception("autoscaling %s failed", target.key.resource_id)

    def _evaluate_alarms(self) -> None:
        firing: dict[str, cw.Alarm] = {}
        if self.alarms is None:
            self._firing = firing
            return
        now = self.clock()
        for alarm in self.alarms.list():
            try:
                state, reason = cw.evaluate(alarm, self.metrics, now)
            except Exception:
                LOG.exception("evaluating alarm %s failed", alarm.name)
                continue
            if state != alarm.state:
                LOG.info("alarm %s: %s -> %s", alarm.name, alarm.state, state)
                self.alarms.set_state(alarm, state, reason, now)
            if state == "ALARM" and alarm.config.get("ActionsEnabled", True):
                for action in alarm.config.get("AlarmActions") or []:
                    firing[action] = alarm
        self._firing = firing

    def _step(self, current: int, policy: Policy) -> int | None:
        alarm = self._firing.get(policy.arn)
        if alarm is None or alarm.value is None:
            return None
        return pure.step_capacity(current, policy.config, alarm.value, float(alarm.config["Threshold"]))

    def metric(self, target: Target, config: dict[str, Any], now: float) -> float | None:
        endpoint, variant = parse_resource(target.key.resource_id)
        period = max(1, math.ceil(self.window))
        start = now - period
        predefined = (config.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
        dims = {"EndpointName": endpoint, "VariantName": variant}
        if predefined == PREDEFINED[INSTANCES]:
            points = self.metrics.statistics(target.key.scope, "AWS/SageMaker", "InvocationsPerInstance", dims,
                                             start, now + 1e-3, period, ["Sum"])
            return sum(p["Sum"] for p in points) * 60.0 / period
        if predefined == PREDEFINED[PROVISIONED]:
            points = self.metrics.statistics(target.key.scope, "AWS/SageMaker",
                                             "ServerlessProvisionedConcurrencyUtilization", dims, start, now + 1e-3,
                                             period, ["Sum", "SampleCount"])
            count = sum(p["SampleCount"] for p in points)
            return sum(p["Sum"] for p in points) / count if count else 0.0
        custom = config.get("CustomizedMetricSpecification") or {}
        if not custom.get("MetricName") or custom.get("Metrics"):
            return None  # metric math is not evaluated by Kiln
        statistic = custom.get("Statistic", "Average")
        dims = {d["Name"]: d["Value"] for d in custom.get("Dimensions") or []}
        points = self.metrics.statistics(target.key.scope, custom["Namespace"], custom["MetricName"], dims, start,
                                         now + 1e-3, period, [statistic])
        if not points:
            return None
        if statistic in ("Sum", "SampleCount"):
            return float(sum(p[statistic] for p in points))
        if statistic == "Minimum":
            return float(min(p[statistic] for p in points))
        if statistic == "Maximum":
            return float(max(p[statistic] for p in points))
        total = sum(p["SampleCount"] for p in points)
        return float(sum(p["Sum"] for p in points) / total) if total else None

    def evaluate(self, target: Target) -> None:
        endpoint_name, variant_name = parse_resource(target.key.resource_id)
        e = self.endpoints.repo.get_endpoint(target.key.scope, endpoint_name)
        variant = e.current.variant(variant_name) if e is not None else None
        if e is None or variant is None:
            return
        self._settle(target, e, variant)
        if e.status.value != "InService" or e.pending is not None:
            return
        now = self.clock()
        current = _capacity(target, variant, desired=True)
        proposals: list[tuple[int, Policy]] = []
        for p in self.store.policies(key=target.key):
            if p.policy_type == "StepScaling":
                stepped = self._step(current, p)
                if stepped is not None:
                    proposals.append((pure.clamp(stepped, target.min_capacity, target.max_capacity), p))
                continue
            if p.policy_type != "TargetTrackingScaling":
                continue
            value = self.metric(target, p.config, now)
            if value is None:
                continue
            want = pure.desired_instances(pure.ScalingInput(current, target.min_capacity, target.max_capacity,
                                                            value, float(p.config["TargetValue"])))
            proposals.append((want, p))
        bounded = pure.clamp(current, target.min_capacity, target.max_capacity)
        if not proposals and bounded == current:
            return
        want, chosen = max(proposals, key=lambda x: x[0]) if proposals else (bounded, None)
        cfg = chosen.config if chosen else {}
        if chosen is not None and chosen.policy_type == "StepScaling":
            cooldowns = pure.Cooldowns(float(cfg.get("Cooldown", 300)), float(cfg.get("Cooldown", 300)))
        else:
            cooldowns = pure.Cooldowns(float(cfg.get("ScaleOutCooldown", 300)),
                                       float(cfg.get("ScaleInCooldown", 300)), bool(cfg.get("DisableScaleIn", False)))
        state = pure.CooldownState(target.last_scale_out, target.last_scale_in)
        decision = pure.apply_cooldown(current, want, state, cooldowns, now, min_count=target.min_capacity,
                                       max_count=target.max_capacity,
                                       scale_in_suspended=bool(target.suspended.get("DynamicScalingInSuspended")),
                                       scale_out_suspended=bool(target.suspended.get("DynamicScalingOutSuspended")))
        count = decision.count
        if target.key.dimension == PROVISIONED:  # never past the variant's MaxConcurrency
            count = min(count, int((variant.serverless or {}).get("MaxConcurrency") or count))
        if count == current:
            return
        self._scale(target, e.scope, endpoint_name, variant_name, current, count, chosen, now)

    def _scale(self, target: Target, scope: Any, endpoint: str, variant: str, current: int, count: int,
               chosen: Policy | None, now: float) -> None:
        side = "AlarmHigh" if count > current else "AlarmLow"
        alarm = next((a["AlarmName"] for a in (chosen.alarms if chosen else []) if side in a["AlarmName"]), None)
        if chosen is not None and chosen.policy_type == "StepScaling" and chosen.arn in self._firing:
            alarm = self._firing[chosen.arn].name
        cause = (f"monitor alarm {alarm} in state ALARM triggered policy {chosen.name}" if chosen and alarm
                 else "minimum/maximum capacity of the scalable target changed")
        what = "provisioned concurrency" if target.key.dimension == PROVISIONED else "instance count"
        activity = Activity(target.key, f"Setting desired {what} to {count}.", cause, "InProgress", now,
                            desired=count)
        try:
            if target.key.dimension == PROVISIONED:
                self.endpoints.set_provisioned_concurrency(scope, endpoint, variant, count)
            else:
                self.endpoints.set_instance_count(scope, endpoint, variant, count)
        except DomainError as exc:
            LOG.info("autoscaling %s: cannot scale now: %s", target.key.resource_id, exc.message)
            return
        LOG.info("autoscaling %s: %d -> %d (%s)", target.key.resource_id, current, count, cause)
        self.store.add_activity(activity)
        state = pure.record(pure.CooldownState(target.last_scale_out, target.last_scale_in), current, count, now)
        target.last_scale_out, target.last_scale_in = state.last_scale_out, state.last_scale_in
        self.store.put_target(target)

    def _settle(self, target: Target, e: Any, variant: Any) -> None:
        """Close InProgress activities once the endpoint is InService again."""
        if e.status.value != "InService":
            return
        for a in self.store.activities(target.key.scope, target.key.namespace, target.key.resource_id,
                                       target.key.dimension, status="InProgress"):
            what = "provisioned concurrency" if target.key.dimension == PROVISIONED else "instance count"
            if _capacity(target, variant, desired=False) == a.desired:
                self.store.finish_activity(a.id, "Successful", f"Successfully set desired {what} to "
                                           f"{a.desired}. Change successfully fulfilled by sagemaker.", self.clock())
            else:
                self.store.finish_activity(a.id, "Failed", e.failure_reason or "The endpoint did not reach the "
                                           f"desired {what}.", self.clock())


def _capacity(target: Target, variant: Any, *, desired: bool) -> int:
    """The variant's capacity in the target's dimension: instances, or provisioned concurrency."""
    if target.key.dimension == PROVISIONED:
        config = variant.serverless if desired else (variant.current_serverless or variant.serverless)
        return int((config or {}).get("ProvisionedConcurrency") or 0)
    return int(variant.desired_count if desired else variant.current_count)
