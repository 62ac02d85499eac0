"""Target tracking policy and cooldowns: table-driven, no server."""

from __future__ import annotations

import pytest

from kiln.services.autoscaling.policy import (
    Cooldowns,
    CooldownState,
    ScalingInput,
    apply_cooldown,
    desired_instances,
    record,
)


@pytest.mark.parametrize(("current", "metric", "target", "lo", "hi", "want"), [
    (1, 1000.0, 1000.0, 1, 10, 1),   # exactly at target: stay
    (1, 1001.0, 1000.0, 1, 10, 2),   # just above: one more
    (2, 3000.0, 1000.0, 1, 10, 6),   # proportional
    (2, 3000.0, 1000.0, 1, 4, 4),    # capped at max
    (4, 100.0, 1000.0, 1, 10, 1),    # far below: down to what the load needs
    (4, 0.0, 1000.0, 2, 10, 2),      # no traffic: min
    (0, 80.0, 70.0, 0, 3, 1),        # from zero: once the metric exceeds the target (AWS's rule)
    (0, 5.0, 70.0, 0, 3, 0),         # from zero below the target: stays (a step policy scales out sooner)
    (0, 0.0, 70.0, 0, 3, 0),         # from zero without
    (2, 70.00000001 * 1.0, 70.0, 1, 5, 2),  # float noise does not add an instance
    (3, 50.0, 0.0, 1, 5, 3),         # a zero target never moves
])
def test_desired_instances(current: int, metric: float, target: float, lo: int, hi: int, want: int) -> None:
    assert desired_instances(ScalingInput(current, lo, hi, metric, target)) == want


CD = Cooldowns(scale_out=60, scale_in=300)


@pytest.mark.parametrize(("current", "want", "state", "now", "count", "reason"), [
    (1, 3, CooldownState(), 1000.0, 3, "metric above target"),
    (1, 3, CooldownState(last_scale_out=990.0), 1000.0, 1, "scale-out cooldown in effect"),
    (1, 3, CooldownState(last_scale_out=900.0), 1000.0, 3, "metric above target"),
    # scale-in waits for the scale-in cooldown after any activity, scale-outs included
    (3, 1, CooldownState(last_scale_out=900.0), 1000.0, 3, "scale-in cooldown in effect"),
    (3, 1, CooldownState(last_scale_out=600.0), 1000.0, 1, "metric below target"),
    (3, 1, CooldownState(last_scale_in=800.0), 1000.0, 3, "scale-in cooldown in effect"),
    # a scale-out is not blocked by a recent scale-in
    (1, 2, CooldownState(last_scale_in=999.0), 1000.0, 2, "metric above target"),
    (2, 2, CooldownState(), 1000.0, 2, "at target"),
])
def test_apply_cooldown(current: int, want: int, state: CooldownState, now: float, count: int, reason: str) -> None:
    decision = apply_cooldown(current, want, state, CD, now, min_count=1, max_count=10)
    assert (decision.count, decision.reason) == (count, reason)


def test_disable_scale_in_and_suspension() -> None:
    off = Cooldowns(scale_out=0, scale_in=0, disable_scale_in=True)
    assert apply_cooldown(3, 1, CooldownState(), off, 0.0, min_count=1, max_count=5).count == 3
    assert apply_cooldown(3, 1, CooldownState(), CD, 0.0, min_count=1, max_count=5, scale_in_suspended=True).count == 3
    assert apply_cooldown(1, 3, CooldownState(), CD, 0.0, min_count=1, max_count=5,
                          scale_out_suspended=True).count == 1


def test_bounds_are_enforced_first() -> None:
    decision = apply_cooldown(6, 6, CooldownState(last_scale_in=0.0), CD, 1.0, min_count=1, max_count=4)
    assert decision.count == 4
    assert apply_cooldown(1, 1, CooldownState(), CD, 1.0, min_count=2, max_count=4).count == 2


def test_record_updates_the_right_clock() -> None:
    s = record(CooldownState(), 1, 3, 10.0)
    assert s == CooldownState(10.0, None)
    s = record(s, 3, 2, 20.0)
    assert s == CooldownState(10.0, 20.0) and s.last_activity == 20.0
    assert record(s, 2, 2, 30.0) is s
