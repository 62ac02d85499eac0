"""TuningStudy: a study rebuilt from the trial rows decides as the lost one would have; no pruner
means no pruning; RandomSeed makes proposals reproducible."""

from __future__ import annotations

from typing import Any

from kiln.core.scope import Scope
from kiln.services.tuning import strategies, validate
from kiln.services.tuning.models import Trial, TuningJob, TuningStatus, Verdict
from kiln.services.tuning.space import Space
from kiln.services.tuning.study import TuningStudy

RANGES = {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1"}],
          "CategoricalParameterRanges": [{"Name": "opt", "Values": ['"a"', '"b"', '"c"']}]}


def _request(strategy: str, **config: Any) -> dict[str, Any]:
    return {
        "HyperParameterTuningJobName": "t",
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy, "ParameterRanges": RANGES,
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 12, "MaxParallelTrainingJobs": 2},
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"}, **config},
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"epochs": "9"},
            "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
            "RoleArn": "arn:aws:iam::123456789012:role/R", "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60}},
    }


def _study(strategy: str, seed: int = 9, **config: Any) -> TuningStudy:
    req = _request(strategy, **config)
    space = Space(validate.definitions(req))
    job = TuningJob(scope=Scope("123456789012", "us-east-1"), name="t", arn="arn:t", spec=req,
                    status=TuningStatus.IN_PROGRESS, created_at=0, modified_at=0, seed=seed)
    resources = strategies.hyperband_resources(req["HyperParameterTuningJobConfig"], {"epochs": "9"})
    pruner = strategies.make_pruner(strategy, config.get("TrainingJobEarlyStoppingType", "Off"),
                                    resources if strategy == "Hyperband" else None)
    return TuningStudy(job, space, max_jobs=validate.check(req, space), pruner=pruner)


def _loss(tuned: dict[str, str], epoch: int) -> float:
    return (float(tuned["x"]) - 0.3) ** 2 + {'"a"': 0.0, '"b"': 0.1, '"c"': 0.2}[tuned["opt"]] + 1 / epoch


def _drive(study: TuningStudy, rows: list[Trial], numbers: range) -> None:
    """Run trials `numbers` two at a time, recording rows as the reconciler does."""
    for first in numbers[::2]:
        batch = [n for n in (first, first + 1) if n in numbers]
        asked = {n: study.ask(n) for n in batch}
        for n in batch:
            _, params, tuned = asked[n]
            row = Trial(Scope("1", "r"), "t", n, 1, f"t-{n:03d}", None, params, tuned, 0.0,
                        system_attrs=study.system_attrs(n))
            values: list[float] = []
            verdict = Verdict.COMPLETE
            for epoch in range(1, 10):
                values.append(_loss(tuned, epoch))
                if study.report(n, values, len(values) - 1):
                    verdict = Verdict.PRUNED
                    break
            study.tell(n, verdict, values[-1])
            row.verdict, row.value, row.intermediate = verdict, values[-1], values
            row.system_attrs = study.system_attrs(n)
            rows.append(row)


def test_rebuilt_study_proposes_what_the_lost_one_would_have() -> None:
    for strategy in ("Bayesian", "Random", "Hyperband"):
        straight, rows = _study(strategy), []
        _drive(straight, rows, range(1, 7))
        rebuilt = _study(strategy)
        rebuilt.restore(rows)
        assert [rebuilt.ask(n)[2] for n in (7, 8)] == [straight.ask(n)[2] for n in (7, 8)], strategy


def test_grid_rebuilt_mid_way_still_visits_every_point_once() -> None:
    ranges = {"CategoricalParameterRanges": RANGES["CategoricalParameterRanges"],
              "IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "4"}]}
    study = _study("Grid", ParameterRanges=ranges)
    seen, rows = [], []
    for n in range(1, 7):
        _, params, tuned = study.ask(n)
        study.tell(n, Verdict.COMPLETE, 1.0)
        rows.append(Trial(Scope("1", "r"), "t", n, 1, f"t-{n}", None, params, tuned, 0.0, verdict=Verdict.COMPLETE,
                          value=1.0, system_attrs=study.system_attrs(n)))
        seen.append(tuple(sorted(tuned.items())))
    rebuilt = _study("Grid", ParameterRanges=ranges)
    rebuilt.restore(rows)
    for n in range(7, 13):
        seen.append(tuple(sorted(rebuilt.ask(n)[2].items())))
        rebuilt.tell(n, Verdict.COMPLETE, 1.0)
    assert len(set(seen)) == 12


def test_without_early_stopping_nothing_is_pruned() -> None:
    study = _study("Random")
    for n in range(1, 8):
        study.ask(n)
        values = [10.0 * n + e for e in range(5)]  # every trial worse than all before it
        assert not study.report(n, values, 0)
        study.tell(n, Verdict.COMPLETE, values[-1])


def test_random_seed_reproduces_proposals() -> None:
    first, second = _study("Random", seed=5), _study("Random", seed=5)
    other = _study("Random", seed=6)
    a = [first.ask(n)[2] for n in range(1, 5)]
    assert a == [second.ask(n)[2] for n in range(1, 5)]
    assert a != [other.ask(n)[2] for n in range(1, 5)]


def test_hyperband_prunes_losers() -> None:
    study, rows = _study("Hyperband"), []
    _drive(study, rows, range(1, 13))
    assert any(r.verdict == Verdict.PRUNED for r in rows)
    assert any(r.verdict == Verdict.COMPLETE for r in rows)
