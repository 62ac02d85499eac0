"""Tuning jobs: validation errors, stop, failures, completion criteria, warm start, several definitions."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from test_tuning_helpers import (
    all_trials,
    definition,
    ranges,
    tuning_request,
    tuning_server,
    wait_tuning,
)

__all__ = ["tuning_server"]


def _name(unique_name: str, suffix: str = "") -> str:
    return (unique_name[: 32 - len(suffix)].strip("-") + suffix)[:32]


def _error(sm: Any, **request: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        sm.create_hyper_parameter_tuning_job(**request)
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def test_validation_errors(tuning_server: Any, unique_name: str) -> None:
    sm = tuning_server.client("sagemaker")
    name = _name(unique_name)
    code, msg = _error(sm, **tuning_request(name, strategy="Hyperband", TrainingJobEarlyStoppingType="Auto",
                                            static={"epochs": "5"}))
    assert code == "ValidationException" and "TrainingJobEarlyStoppingType" in msg
    code, msg = _error(sm, **tuning_request(name, strategy="Grid", max_jobs=None))
    assert code == "ValidationException" and "continuous: x" in msg
    bad_log = {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1",
                                              "ScalingType": "Logarithmic"}]}
    code, msg = _error(sm, **tuning_request(name, param_ranges=bad_log))
    assert code == "ValidationException" and "Logarithmic" in msg
    bad_rev = {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0.5", "MaxValue": "2",
                                              "ScalingType": "ReverseLogarithmic"}]}
    assert _error(sm, **tuning_request(name, param_ranges=bad_rev))[0] == "ValidationException"
    code, msg = _error(sm, **tuning_request(name, static={"x": "0.5"}))
    assert code == "ValidationException" and "both static and tunable" in msg
    code, msg = _error(sm, **tuning_request(name, strategy="Hyperband", static={"epochs": "x"}))
    assert code == "ValidationException" and "MaxResource" in msg
    both = tuning_request(name)
    both["TrainingJobDefinitions"] = [dict(definition(), DefinitionName="a")]
    assert _error(sm, **both)[0] == "ValidationException"
    code, _ = _error(sm, **tuning_request("x" * 33))
    assert code == "ValidationException"
    with pytest.raises(ClientError) as info:
        sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="no-such-tuning-job")
    assert info.value.response["Error"]["Code"] == "ResourceNotFound"


def test_duplicate_name_and_stop(tuning_server: Any, unique_name: str) -> None:
    sm = tuning_server.client("sagemaker")
    name = _name(unique_name)
    sm.create_hyper_parameter_tuning_job(**tuning_request(name, max_jobs=6, parallel=2,
                                                          static={"epochs": "60", "sleep": "0.5"}))
    assert _error(sm, **tuning_request(name))[0] == "ResourceInUse"
    deadline = time.time() + 60
    while time.time() < deadline:
        running = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name,
                                                                        StatusEquals="InProgress")
        if len(running["TrainingJobSummaries"]) == 2:
            break
        time.sleep(0.3)
    sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    status = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)["HyperParameterTuningJobStatus"]
    assert status in ("Stopping", "Stopped")
    desc = wait_tuning(sm, name, timeout=90)
    assert desc["HyperParameterTuningJobStatus"] == "Stopped"
    trials = all_trials(sm, name)
    assert len(trials) == 2 and all(t["TrainingJobStatus"] == "Stopped" for t in trials)
    assert desc["TrainingJobStatusCounters"]["Stopped"] == 2
    with pytest.raises(ClientError) as info:
        sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_failed_trials_are_counted_and_all_failed_fails_the_job(tuning_server: Any, unique_name: str) -> None:
    sm = tuning_server.client("sagemaker")
    mixed, doomed = _name(unique_name, "-m"), _name(unique_name, "-d")
    grid = {"CategoricalParameterRanges": [{"Name": "opt", "Values": ['"adam"', '"boom"']}]}
    sm.create_hyper_parameter_tuning_job(**tuning_request(mixed, strategy="Grid", max_jobs=None, param_ranges=grid))
    only_boom = {"CategoricalParameterRanges": [{"Name": "opt", "Values": ['"boom"']}], **ranges()}
    sm.create_hyper_parameter_tuning_job(**tuning_request(doomed, max_jobs=2, param_ranges=only_boom))
    desc = wait_tuning(sm, mixed)
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert desc["TrainingJobStatusCounters"]["NonRetryableError"] == 1
    assert desc["TrainingJobStatusCounters"]["Completed"] == 1
    assert desc["ObjectiveStatusCounters"] == {"Succeeded": 1, "Pending": 0, "Failed": 1}
    assert desc["BestTrainingJob"]["TunedHyperParameters"]["opt"] == '"adam"'
    failed = all_trials(sm, mixed)
    assert any("failing on purpose" in (t.get("FailureReason") or "") for t in failed)
    desc = wait_tuning(sm, doomed)
    assert desc["HyperParameterTuningJobStatus"] == "Failed"
    assert desc["FailureReason"].startswith("No training job succeeded after 2 attempts")
    assert "BestTrainingJob" not in desc


def test_target_objective_completes_early(tuning_server: Any, unique_name: str) -> None:
    sm = tuning_server.client("sagemaker")
    name = _name(unique_name)
    sm.create_hyper_parameter_tuning_job(**tuning_request(
        name, max_jobs=6, parallel=1, TuningJobCompletionCriteria={"TargetObjectiveMetricValue": 100.0}))
    desc = wait_tuning(sm, name)
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert len(all_trials(sm, name)) == 1
    assert desc["TuningJobCompletionDetails"]["NumberOfTrainingJobsObjectiveNotImproving"] == 0


def test_warm_start_and_overall_best(tuning_server: Any, unique_name: str) -> None:
    sm = tuning_server.client("sagemaker")
    parent, child = _name(unique_name, "-p"), _name(unique_name, "-c")
    sm.create_hyper_parameter_tuning_job(**tuning_request(parent, max_jobs=3, parallel=3, RandomSeed=1))
    warm = {"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": parent}],
            "WarmStartType": "IdenticalDataAndAlgorithm"}
    busy = _error(sm, **tuning_request(child, strategy="Bayesian", max_jobs=2, parallel=2), WarmStartConfig=warm)
    assert busy[0] == "ValidationException"
    pdesc = wait_tuning(sm, parent)
    sm.create_hyper_parameter_tuning_job(**tuning_request(child, strategy="Bayesian", max_jobs=2, parallel=2),
                                         WarmStartConfig=warm)
    desc = wait_tuning(sm, child)
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert desc["WarmStartConfig"]["WarmStartType"] == "IdenticalDataAndAlgorithm"
    assert len(all_trials(sm, child)) == 2
    values = [t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
              for n in (parent, child) for t in all_trials(sm, n)]
    overall = desc["OverallBestTrainingJob"]
    assert overall["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == min(values)
    assert overall["TuningJobName"] in (parent, child)
    assert pdesc["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] >= min(values)


def test_several_training_job_definitions(tuning_server: Any, unique_name: str) -> None:
    sm = tuning_server.client("sagemaker")
    name = _name(unique_name)
    objective = {"Type": "Minimize", "MetricName": "loss"}
    defs = [dict(definition(), DefinitionName="small", TuningObjective=objective, HyperParameterRanges=ranges()),
            dict(definition(), DefinitionName="wide", TuningObjective=objective,
                 HyperParameterRanges=ranges(x=False, opt=True))]
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, TrainingJobDefinitions=defs,
        HyperParameterTuningJobConfig={"Strategy": "Random", "RandomSeed": 11,
                                       "ResourceLimits": {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 3}})
    desc = wait_tuning(sm, name)
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert [d["DefinitionName"] for d in desc["TrainingJobDefinitions"]] == ["small", "wide"]
    trials = all_trials(sm, name)
    for t in trials:
        expected = {"small": {"x"}, "wide": {"opt"}}[t["TrainingJobDefinitionName"]]
        assert set(t["TunedHyperParameters"]) == expected
    assert desc["BestTrainingJob"]["TrainingJobDefinitionName"] in ("small", "wide")
    sm.delete_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    with pytest.raises(ClientError):
        sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    sm.describe_training_job(TrainingJobName=trials[0]["TrainingJobName"])  # training jobs stay


def test_kiln_tuning_cli_shows_trials_best_first(tuning_server: Any, unique_name: str) -> None:
    from typer.testing import CliRunner

    from kiln.cli import app

    sm = tuning_server.client("sagemaker")
    name = _name(unique_name)
    sm.create_hyper_parameter_tuning_job(**tuning_request(name, max_jobs=3, parallel=3, RandomSeed=2))
    desc = wait_tuning(sm, name)
    runner = CliRunner()
    env = {"COLUMNS": "250"}
    out = runner.invoke(app, ["tuning", name, "--endpoint", tuning_server.url], env=env)
    assert out.exit_code == 0, out.output
    rows = [line for line in out.output.splitlines() if f"{name}-00" in line]
    assert len(rows) == 3
    assert desc["BestTrainingJob"]["TrainingJobName"] in rows[0] and "*" in rows[0]
    assert "Completed" in rows[0] and "x=" in rows[0]
    listed = runner.invoke(app, ["tuning", "--endpoint", tuning_server.url], env=env)
    assert listed.exit_code == 0 and name in listed.output and "Random" in listed.output


def test_max_runtime_stops_the_tuning_job(tuning_server: Any, unique_name: str) -> None:
    """MaxRuntimeInSeconds is at least 120 s; the job's clock is moved back instead of waiting (Kiln-only)."""
    sm = tuning_server.client("sagemaker")
    name = _name(unique_name)
    req = tuning_request(name, max_jobs=4, parallel=2, static={"epochs": "60", "sleep": "0.5"})
    req["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxRuntimeInSeconds"] = 120
    sm.create_hyper_parameter_tuning_job(**req)
    deadline = time.time() + 60
    while len(sm.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name, StatusEquals="InProgress")["TrainingJobSummaries"]) < 2:
        assert time.time() < deadline
        time.sleep(0.3)
    platform = tuning_server.platform
    job = platform.tuning.repo.get(platform_scope(), name)
    job.created_at -= 121
    platform.tuning.repo.compare_and_set(job, job.status)
    desc = wait_tuning(sm, name, timeout=90)
    assert desc["HyperParameterTuningJobStatus"] == "Stopped"
    assert desc["ConsumedResources"]["RuntimeInSeconds"] >= 120
    assert {t["TrainingJobStatus"] for t in all_trials(sm, name)} == {"Stopped"}


def platform_scope() -> Any:
    from kiln.core.scope import Scope

    return Scope("123456789012", "us-east-1")
