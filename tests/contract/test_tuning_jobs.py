"""Hyperparameter tuning jobs through boto3 against a live server: every trial really runs."""

from __future__ import annotations

from typing import Any

from test_tuning_helpers import all_trials, max_overlap, ranges, tuning_request, tuning_server, wait_tuning

__all__ = ["tuning_server"]


def test_random_strategy_runs_every_trial(tuning_server: Any, unique_name: str) -> None:
    sm = tuning_server.client("sagemaker")
    name = unique_name[:32].strip("-")
    arn = sm.create_hyper_parameter_tuning_job(**tuning_request(
        name, max_jobs=5, parallel=2, param_ranges=ranges(lr=True, n=True, opt=True),
        RandomSeed=7))["HyperParameterTuningJobArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/{name}"
    desc = wait_tuning(sm, name)
    assert desc["HyperParameterTuningJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["TrainingJobStatusCounters"] == {"Completed": 5, "InProgress": 0, "RetryableError": 0,
                                                 "NonRetryableError": 0, "Stopped": 0}
    assert desc["ObjectiveStatusCounters"] == {"Succeeded": 5, "Pending": 0, "Failed": 0}
    trials = all_trials(sm, name)
    assert len(trials) == 5
    assert max_overlap(trials) <= 2
    values = [t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for t in trials]
    best = desc["BestTrainingJob"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == min(values)
    assert sorted(t["TrainingJobName"] for t in trials)[0].startswith(f"{name}-001-")
    for t in trials:
        assert t["TunedHyperParameters"]["opt"] in ('"adam"', '"sgd"', '"rmsprop"')
        job = sm.describe_training_job(TrainingJobName=t["TrainingJobName"])
        assert job["TuningJobArn"] == arn
        assert job["HyperParameters"]["opt"] == t["TunedHyperParameters"]["opt"]
        assert job["HyperParameters"]["_tuning_objective_metric"] == "loss"


def _name(unique_name: str, suffix: str = "") -> str:
    return (unique_name[: 32 - len(suffix)].strip("-") + suffix)[:32]


def test_bayesian_counts_best_and_reproducible_hyperparameters(tuning_server: Any, unique_name: str) -> None:
    sm = tuning_server.client("sagemaker")
    name = _name(unique_name)
    sm.create_hyper_parameter_tuning_job(**tuning_request(
        name, strategy="Bayesian", max_jobs=6, parallel=2, param_ranges=ranges(lr=True, opt=True), RandomSeed=3),
        Tags=[{"Key": "team", "Value": "ml"}])
    desc = wait_tuning(sm, name)
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert desc["HyperParameterTuningJobConfig"]["Strategy"] == "Bayesian"
    assert desc["TrainingJobDefinition"]["StaticHyperParameters"]["epochs"] == "3"
    assert desc["ConsumedResources"]["RuntimeInSeconds"] >= 1
    trials = all_trials(sm, name)
    assert len(trials) == 6 and max_overlap(trials) <= 2
    by_value = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, SortBy="FinalObjectiveMetricValue", SortOrder="Ascending")
    values = [t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for t in by_value["TrainingJobSummaries"]]
    assert values == sorted(values) and len(values) == 6
    assert desc["BestTrainingJob"]["TrainingJobName"] == by_value["TrainingJobSummaries"][0]["TrainingJobName"]
    assert sm.list_tags(ResourceArn=desc["HyperParameterTuningJobArn"])["Tags"] == [{"Key": "team", "Value": "ml"}]
    listed = sm.list_hyper_parameter_tuning_jobs(NameContains=name)["HyperParameterTuningJobSummaries"]
    assert [j["HyperParameterTuningJobName"] for j in listed] == [name]
    assert listed[0]["TrainingJobStatusCounters"]["Completed"] == 6 and listed[0]["Strategy"] == "Bayesian"


def test_random_seed_reproduces_the_search(tuning_server: Any, unique_name: str) -> None:
    sm = tuning_server.client("sagemaker")
    names = [_name(unique_name, "-a"), _name(unique_name, "-b")]
    for n in names:
        sm.create_hyper_parameter_tuning_job(**tuning_request(
            n, max_jobs=3, parallel=3, param_ranges=ranges(lr=True, n=True, opt=True), RandomSeed=42))
    seen = []
    for n in names:
        assert wait_tuning(sm, n)["HyperParameterTuningJobStatus"] == "Completed"
        trials = sorted(all_trials(sm, n), key=lambda t: t["TrainingJobName"])
        seen.append([t["TunedHyperParameters"] for t in trials])
    assert seen[0] == seen[1]


def test_grid_runs_every_combination(tuning_server: Any, unique_name: str) -> None:
    sm = tuning_server.client("sagemaker")
    name = _name(unique_name)
    grid = {"CategoricalParameterRanges": [{"Name": "opt", "Values": ['"adam"', '"sgd"']}],
            "IntegerParameterRanges": [{"Name": "n", "MinValue": "3", "MaxValue": "5"}]}
    sm.create_hyper_parameter_tuning_job(**tuning_request(name, strategy="Grid", max_jobs=None, parallel=3,
                                                          param_ranges=grid))
    desc = wait_tuning(sm, name)
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert desc["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 6
    trials = all_trials(sm, name)
    combos = sorted((t["TunedHyperParameters"]["opt"], t["TunedHyperParameters"]["n"]) for t in trials)
    assert combos == sorted((o, str(n)) for o in ('"adam"', '"sgd"') for n in (3, 4, 5))
    assert max_overlap(trials) <= 3
    best = desc["BestTrainingJob"]
    assert best["TunedHyperParameters"] == {"opt": '"adam"', "n": "4"}


def test_hyperband_stops_losers_early(tuning_server: Any, unique_name: str) -> None:
    sm = tuning_server.client("sagemaker")
    name = _name(unique_name)
    sm.create_hyper_parameter_tuning_job(**tuning_request(
        name, strategy="Hyperband", max_jobs=8, parallel=2, param_ranges=ranges(x=True),
        static={"epochs": "9", "sleep": "0.3"}, RandomSeed=1,
        StrategyConfig={"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 9}}))
    desc = wait_tuning(sm, name)
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    trials = all_trials(sm, name)
    assert len(trials) == 8 and max_overlap(trials) <= 2
    stopped = [t for t in trials if t["TrainingJobStatus"] == "Stopped"]
    assert stopped, "Hyperband stopped no trial"
    assert desc["TrainingJobStatusCounters"]["Stopped"] == len(stopped)
    assert desc["TrainingJobStatusCounters"]["Completed"] == 8 - len(stopped)
    for t in stopped:  # early-stopped trials keep the objective they reached
        assert t["ObjectiveStatus"] == "Succeeded"
        assert "FinalHyperParameterTuningJobObjectiveMetric" in t
    values = [t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for t in trials]
    assert desc["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == min(values)


def test_early_stopping_auto_uses_the_median_rule(tuning_server: Any, unique_name: str) -> None:
    sm = tuning_server.client("sagemaker")
    name = _name(unique_name)
    grid = {"CategoricalParameterRanges": [{"Name": "x", "Values": ["0.3", "0.35", "0.4", "0.9", "0.95", "1.0",
                                                                    "0.32", "0.97"]}]}
    sm.create_hyper_parameter_tuning_job(**tuning_request(
        name, strategy="Grid", max_jobs=None, parallel=1, param_ranges=grid, static={"epochs": "6", "sleep": "0.3"},
        TrainingJobEarlyStoppingType="Auto", RandomSeed=5))
    desc = wait_tuning(sm, name)
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    trials = all_trials(sm, name)
    stopped = [t for t in trials if t["TrainingJobStatus"] == "Stopped"]
    assert stopped and desc["TrainingJobStatusCounters"]["Stopped"] == len(stopped)
    for t in stopped:
        assert float(t["TunedHyperParameters"]["x"]) >= 0.9
        job = sm.describe_training_job(TrainingJobName=t["TrainingJobName"])
        assert job["SecondaryStatusTransitions"][-1]["Status"] == "Stopped"
