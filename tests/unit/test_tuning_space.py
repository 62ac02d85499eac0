"""Search space, strategies' pure parts and completion criteria (no server)."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from kiln.core.errors import InvalidInput
from kiln.services.tuning import completion, strategies
from kiln.services.tuning.models import StopReason
from kiln.services.tuning.space import Definition, Param, Space, parse_ranges


def _space(ranges: dict) -> Space:
    return Space([Definition(None, parse_ranges(ranges), {}, {"Type": "Minimize", "MetricName": "loss"}, {})])


def test_scaling_types_sample_inside_their_ranges() -> None:
    space = _space({
        "ContinuousParameterRanges": [
            {"Name": "lr", "MinValue": "0.0001", "MaxValue": "0.1", "ScalingType": "Logarithmic"},
            {"Name": "beta", "MinValue": "0.9", "MaxValue": "0.9999", "ScalingType": "ReverseLogarithmic"},
            {"Name": "dropout", "MinValue": "0.1", "MaxValue": "0.5"}],
        "IntegerParameterRanges": [{"Name": "units", "MinValue": "64", "MaxValue": "512", "ScalingType": "Auto"}],
        "CategoricalParameterRanges": [{"Name": "opt", "Values": ['"sgd"', '"adam"']}],
    })
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    betas = []
    for _ in range(200):
        _, tuned = space.suggest(study.ask())
        assert 0.0001 <= float(tuned["lr"]) <= 0.1
        assert 0.9 <= float(tuned["beta"]) <= 0.9999
        assert 64 <= int(tuned["units"]) <= 512 and tuned["units"] == str(int(tuned["units"]))
        assert tuned["opt"] in ('"sgd"', '"adam"')  # verbatim, JSON quotes and all
        betas.append(float(tuned["beta"]))
    # ReverseLogarithmic crowds values towards 1: most samples lie in the top tenth of the range.
    assert sum(b > 0.99 for b in betas) > 100


def test_from_wire_maps_parent_values_and_rejects_outsiders() -> None:
    cat = Param("opt", "Categorical", choices=('"sgd"', '"adam"'))
    assert cat.from_wire('"adam"') == '"adam"'
    assert cat.from_wire("adam") == '"adam"'  # TransferLearning: unquoted parent value
    assert cat.from_wire("rmsprop") is None
    rev = Param("beta", "Continuous", 0.9, 0.999, "ReverseLogarithmic")
    assert rev.from_wire("0.99") == pytest.approx(0.01)
    assert rev.to_wire(0.01) == "0.99"
    assert Param("n", "Integer", 1, 5).from_wire("7") is None
    assert Param("n", "Integer", 1, 5).from_wire("3") == 3


@pytest.mark.parametrize("ranges, text", [
    ({"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1", "ScalingType": "Logarithmic"}]},
     "greater than 0"),
    ({"IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "5",
                                  "ScalingType": "ReverseLogarithmic"}]}, "not supported for integer"),
    ({"ContinuousParameterRanges": [{"Name": "x", "MinValue": "2", "MaxValue": "1"}]}, "less than or equal"),
    ({"IntegerParameterRanges": [{"Name": "n", "MinValue": "1.5", "MaxValue": "5"}]}, "must be integers"),
    ({"CategoricalParameterRanges": [{"Name": "c", "Values": ["a", "a"]}]}, "duplicate"),
    ({"CategoricalParameterRanges": [{"Name": "x", "Values": ["a"]}],
      "ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1"}]}, "unique"),
])
def test_range_rules(ranges: dict, text: str) -> None:
    with pytest.raises(InvalidInput, match=text):
        parse_ranges(ranges)


def test_grid_enumerates_categorical_and_integer_values() -> None:
    space = _space({"CategoricalParameterRanges": [{"Name": "c", "Values": ["a", "b"]}],
                    "IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "3"}]})
    points = [tuned for _, tuned in space.grid()]
    assert len(points) == 6 and {"n": "1", "c": "a"} in points and {"n": "3", "c": "b"} in points


def test_hyperband_max_resource_from_static_epochs() -> None:
    assert strategies.hyperband_resources({}, {"epochs": "30"}) == (1, 30)
    assert strategies.hyperband_resources({}, {"num_epochs": '"12"'}) == (1, 12)
    config = {"StrategyConfig": {"HyperbandStrategyConfig": {"MinResource": 2, "MaxResource": 50}}}
    assert strategies.hyperband_resources(config, {}) == (2, 50)
    with pytest.raises(InvalidInput, match="MaxResource"):
        strategies.hyperband_resources({}, {"lr": "0.1"})


def test_median_rule_stops_a_trial_worse_than_the_median_of_running_averages() -> None:
    study = optuna.create_study(direction="minimize", pruner=strategies.MedianRule(min_trials=3))
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for curve in ([1.0, 0.5], [1.2, 0.6], [0.8, 0.4]):  # running averages at step 2: 0.75, 0.9, 0.6
        study.add_trial(create_trial(state=TrialState.COMPLETE, value=curve[-1], params={"x": 0.1},
                                     distributions=dist, intermediate_values={1: curve[0], 2: curve[1]}))
    good, bad = study.ask(), study.ask()
    for trial, second in ((good, 0.7), (bad, 0.85)):  # medians 0.75, then 0.8 (good counts)
        trial.report(1.0, 1)
        trial.report(second, 2)
    assert not good.should_prune() and bad.should_prune()


def test_median_rule_waits_for_enough_earlier_trials() -> None:
    study = optuna.create_study(pruner=strategies.MedianRule(min_trials=3))
    first, second = study.ask(), study.ask()
    first.report(0.1, 1)
    second.report(9.0, 1)
    assert not second.should_prune()


def test_completion_criteria() -> None:
    p = completion.progress([5.0, 4.0, 3.99, 3.98, 3.97], {"BestObjectiveNotImproving": {
        "MaxNumberOfTrainingJobsNotImproving": 3}}, maximize=False, max_jobs=20)
    assert p.reason == StopReason.NOT_IMPROVING and p.not_improving == 3 and p.best == 3.97
    p = completion.progress([0.5, 0.91], {"TargetObjectiveMetricValue": 0.9}, maximize=True, max_jobs=20)
    assert p.reason == StopReason.TARGET_REACHED
    p = completion.progress([1.0] * 5, {"ConvergenceDetected": {"CompleteOnConvergence": "Enabled"}},
                            maximize=False, max_jobs=20)
    assert p.reason is None and p.not_improving == 4
    p = completion.progress([1.0] * 6, {"ConvergenceDetected": {"CompleteOnConvergence": "Enabled"}},
                            maximize=False, max_jobs=20)
    assert p.reason == StopReason.CONVERGED
    assert completion.improved(0.0, None, False) and not completion.improved(-math.inf, -math.inf, False)
