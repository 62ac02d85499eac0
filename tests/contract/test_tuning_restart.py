"""A server SIGKILLed in the middle of a tuning job: after a restart on the same data dir the job
finishes, and every trial is accounted for (trials that were running when the server died failed
with a retryable error and were retried under the same trial number)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from test_tuning_helpers import all_trials, tuning_request, upload_source, wait_tuning

from server_proc import ServerProcess

ENV = {"KILN_CPU_CAPACITY": "8", "KILN_STOP_GRACE_SECONDS": "2", "KILN_ACCOUNT_ID": "123456789012"}


def _wait_midway(sm: Any, name: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        trials = all_trials(sm, name)
        done = sum(t["TrainingJobStatus"] == "Completed" for t in trials)
        running = sum(t["TrainingJobStatus"] == "InProgress" and "TrainingStartTime" in t for t in trials)
        if done >= 2 and running >= 1:
            return
        time.sleep(0.2)
    raise AssertionError(f"tuning job {name} never got midway")


def test_restart_mid_tuning_loses_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data, **ENV).wait_healthy()
    name = "restart-tuning"
    try:
        upload_source(server.client("s3"))
        sm = server.client("sagemaker")
        sm.create_hyper_parameter_tuning_job(**tuning_request(
            name, strategy="Bayesian", max_jobs=6, parallel=2, RandomSeed=4, static={"epochs": "6", "sleep": "0.4"}))
        _wait_midway(sm, name)
        server.kill()
        server = ServerProcess(data, port=server.port, **ENV).wait_healthy()
        sm = server.client("sagemaker")
        desc = wait_tuning(sm, name, timeout=240)
        trials = all_trials(sm, name)
        listed = sm.list_training_jobs(NameContains=name, MaxResults=100)["TrainingJobSummaries"]
    finally:
        server.terminate()
    assert desc["HyperParameterTuningJobStatus"] == "Completed", desc.get("FailureReason")
    counters = desc["TrainingJobStatusCounters"]
    assert sum(counters.values()) == len(trials)
    assert counters["InProgress"] == 0 and counters["RetryableError"] >= 1
    numbers = Counter(t["TrainingJobName"][len(name) + 1:len(name) + 4] for t in trials)
    assert sorted(numbers) == [f"{n:03d}" for n in range(1, 7)]
    for number in numbers:  # each trial number ends with exactly one finished, successful attempt
        attempts = [t for t in trials if t["TrainingJobName"].startswith(f"{name}-{number}-")]
        assert [t["TrainingJobStatus"] for t in attempts].count("Completed") == 1
        assert all(t["TrainingJobStatus"] in ("Completed", "Failed") for t in attempts)
        failed = [t for t in attempts if t["TrainingJobStatus"] == "Failed"]
        assert all(t["FailureReason"].startswith("InternalServerError") for t in failed)
        assert len({tuple(sorted(t["TunedHyperParameters"].items())) for t in attempts}) == 1
    assert desc["ObjectiveStatusCounters"]["Succeeded"] == 6
    assert {j["TrainingJobName"] for j in listed} == {t["TrainingJobName"] for t in trials}
