"""Target tracking as pure functions: how many instances a metric asks for, and whether cooldowns
let the change happen now. No I/O, no clock: callers pass `now` (tests need no cluster).

Semantics (Application Auto Scaling target tracking, as documented):
* desired = ceil(current * metric / target), within [min, max]; with several policies on one target,
  the largest desired count wins (scale out if any asks, scale in only if all agree);
* a scale-out waits out `ScaleOutCooldown` after the previous scale-out;
* a scale-in waits out `ScaleInCooldown` after the previous scaling activity of either direction,
  and never happens when the policy says `DisableScaleIn` or scale-in is suspended;
* a count outside [min, max] (after RegisterScalableTarget narrowed it) is brought inside at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ScalingInput:
    current: int
    min_count: int
    max_count: int
    metric: float  # e.g. SageMakerVariantInvocationsPerInstance, invocations per instance per minute
    target: float  # TargetTrackingScalingPolicyConfiguration.TargetValue


def clamp(count: int, min_count: int, max_count: int) -> int:
    return max(min_count, min(max_count, count))


def desired_instances(x: ScalingInput) -> int:
    """What one target tracking policy asks for."""
    if x.target <= 0:
        return clamp(x.current, x.min_count, x.max_count)
    if x.current <= 0:
        # From zero (async endpoints), target tracking starts an instance only once the metric exceeds the
        # target, as AWS documents; a step policy on HasBacklogWithoutCapacity is what scales out sooner.
        return clamp(1 if x.metric > x.target else 0, x.min_count, x.max_count)
    # A tiny epsilon keeps float noise (e.g. 2 * 70.0000001 / 70) from adding an instance.
    want = math.ceil(x.current * x.metric / x.target - 1e-9)
    return clamp(want, x.min_count, x.max_count)


@dataclass(frozen=True, slots=True)
class Cooldowns:
    scale_out: float = 300.0
    scale_in: float = 300.0
    disable_scale_in: bool = False


@dataclass(frozen=True, slots=True)
class CooldownState:
    last_scale_out: float | None = None
    last_scale_in: float | None = None

    @property
    def last_activity(self) -> float | None:
        times = [t for t in (self.last_scale_out, self.last_scale_in) if t is not None]
        return max(times) if times else None


@dataclass(frozen=True, slots=True)
class Decision:
    count: int
    reason: str  # why this count (for DescribeScalingActivities with IncludeNotScaledActivities)


def apply_cooldown(current: int, want: int, state: CooldownState, cooldowns: Cooldowns, now: float, *,
                   min_count: int, max_count: int, scale_in_suspended: bool = False,
                   scale_out_suspended: bool = False) -> Decision:
    bounded = clamp(current, min_count, max_count)
    if bounded != current:
        return Decision(bounded, "the current capacity is outside the registered minimum/maximum")
    if want > current:
        if scale_out_suspended:
            return Decision(current, "dynamic scale-out is suspended")
        if state.last_scale_out is not None and now - state.last_scale_out < cooldowns.scale_out:
            return Decision(current, "scale-out cooldown in effect")
        return Decision(want, "metric above target")
    if want < current:
        if cooldowns.disable_scale_in or scale_in_suspended:
            return Decision(current, "scale-in is disabled")
        last = state.last_activity
        if last is not None and now - last < cooldowns.scale_in:
            return Decision(current, "scale-in cooldown in effect")
        return Decision(want, "metric below target")
    return Decision(current, "at target")


def record(state: CooldownState, before: int, after: int, now: float) -> CooldownState:
    if after > before:
        return CooldownState(now, state.last_scale_in)
    if after < before:
        return CooldownState(state.last_scale_out, now)
    return state


def step_capacity(current: int, config: dict[str, object], value: float, threshold: float) -> int | None:
    """What a step scaling policy asks for when its alarm fires with `value` (None: no step matches).

    Steps are bounds relative to the alarm threshold (`MetricIntervalLowerBound` inclusive, upper
    exclusive); `AdjustmentType` ChangeInCapacity adds, ExactCapacity sets, PercentChangeInCapacity
    scales by a percentage (at least `MinAdjustmentMagnitude`, and at least 1, when it moves at all).
    """
    diff = value - threshold
    kind = str(config.get("AdjustmentType") or "ChangeInCapacity")
    for step in config.get("StepAdjustments") or []:  # type: ignore[attr-defined]
        lo, hi = step.get("MetricIntervalLowerBound"), step.get("MetricIntervalUpperBound")
        if (lo is not None and diff < float(lo)) or (hi is not None and diff >= float(hi)):
            continue
        adjustment = int(step["ScalingAdjustment"])
        if kind == "ExactCapacity":
            return adjustment
        if kind == "PercentChangeInCapacity":
            delta = current * adjustment / 100.0
            magnitude = max(abs(delta), float(config.get("MinAdjustmentMagnitude") or 0), 1.0 if delta else 0.0)  # type: ignore[arg-type]
            return current + int(math.copysign(math.floor(magnitude), delta))
        return current + adjustment
    return None
