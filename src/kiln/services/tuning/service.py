"""Tuning-job use-cases: create, describe, list, stop; the one status writer; trial requests.

The reconciler (reconciler.py) does the long work: it asks the study for combinations, launches
trials as training jobs, feeds their intermediate values to the pruner and tells the results.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from kiln.core import arns, clock
from kiln.core.errors import AlreadyExists, InvalidInput, InvalidState, NotFound
from kiln.core.jobs.lifecycle import JobStatus
from kiln.core.scope import Scope
from kiln.services.training.service import TrainingService
from kiln.services.tuning import validate, views
from kiln.services.tuning.models import ALLOWED, TERMINAL, StopReason, Trial, TuningJob, TuningStatus
from kiln.services.tuning.repository import TuningRepository
from kiln.services.tuning.space import Definition, Space

# Members of a HyperParameterTrainingJobDefinition copied into each trial's CreateTrainingJob request.
_COPIED = ("RoleArn", "InputDataConfig", "VpcConfig", "OutputDataConfig", "StoppingCondition",
           "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining",
           "CheckpointConfig", "Environment")
_ALGO = ("TrainingImage", "TrainingInputMode", "AlgorithmName", "MetricDefinitions")
MAX_PARENTS = 5


class TuningService:
    def __init__(self, repo: TuningRepository, training: TrainingService,
                 notify: Callable[[], None] = lambda: None) -> None:
        self.repo = repo
        self.training = training
        self.notify = notify  # wakes the reconciler (thread-safe)
        self._spaces: dict[str, tuple[Space, int]] = {}

    # -- the search space of a job -------------------------------------------------------------
    def space(self, job: TuningJob) -> tuple[Space, int]:
        """(Space, number of trials to launch) of a job (cached; the spec never changes)."""
        if job.arn not in self._spaces:
            space = Space(validate.definitions(job.spec))
            self._spaces[job.arn] = (space, validate.check(job.spec, space))
        return self._spaces[job.arn]

    # -- use-cases -------------------------------------------------------------------------------
    def create(self, scope: Scope, request: dict[str, Any]) -> TuningJob:
        name = request["HyperParameterTuningJobName"]
        space = Space(validate.definitions(request))
        total = validate.check(request, space)
        self._check_parents(scope, request, space)
        now = clock.epoch()
        seed = request["HyperParameterTuningJobConfig"].get("RandomSeed")
        spec = {k: v for k, v in request.items() if k != "Tags"}
        job = TuningJob(scope=scope, name=name, arn=arns.sagemaker(scope, "hyper-parameter-tuning-job", name),
                        spec=spec, status=TuningStatus.IN_PROGRESS, created_at=now, modified_at=now,
                        seed=int(seed) if seed is not None else random.randrange(2**31),
                        tags=list(request.get("Tags") or []))
        if not self.repo.insert(job):
            raise AlreadyExists("HyperParameterTuningJob", name,
                                f"Tuning job names must be unique within an AWS account and region, and a tuning "
                                f"job with this name already exists ({job.arn})")
        self._spaces[job.arn] = (space, total)
        self.notify()
        return job

    def _check_parents(self, scope: Scope, request: dict[str, Any], space: Space) -> None:
        warm = request.get("WarmStartConfig")
        if not warm:
            return
        parents = warm["ParentHyperParameterTuningJobs"]
        if not 1 <= len(parents) <= MAX_PARENTS:
            raise InvalidInput(f"WarmStartConfig needs between 1 and {MAX_PARENTS} parent tuning jobs.")
        metric = space.definitions[0].objective["MetricName"]
        image = space.definitions[0].request["AlgorithmSpecification"].get("TrainingImage")
        for p in parents:
            name = p.get("HyperParameterTuningJobName", "")
            try:
                parent = self.repo.get(scope, name)
            except NotFound as exc:
                raise InvalidInput(f"The parent tuning job {name} does not exist.") from exc  # unverified
            if not parent.terminal:
                raise InvalidInput(f"The parent tuning job {name} is {parent.status.value}; parent tuning jobs "
                                   "must be Completed, Stopped or Failed.")  # unverified
            if warm["WarmStartType"] == "IdenticalDataAndAlgorithm":
                pdef = self.space(parent)[0].definitions[0]
                if pdef.objective["MetricName"] != metric:
                    raise InvalidInput(f"The objective metric of parent tuning job {name} must be the same as "
                                       "this tuning job's for IdenticalDataAndAlgorithm.")  # unverified
                if pdef.request["AlgorithmSpecification"].get("TrainingImage") != image:
                    raise InvalidInput(f"The training image of parent tuning job {name} must be the same as "
                                       "this tuning job's for IdenticalDataAndAlgorithm.")  # unverified

    def get(self, scope: Scope, name: str) -> TuningJob:
        return self.repo.get(scope, name)

    def stop(self, scope: Scope, name: str) -> TuningJob:
        """Stopping; every running trial is asked to stop (the reconciler finishes the job)."""
        job = self.repo.get(scope, name)
        if job.status == TuningStatus.STOPPING:
            return job
        if job.status != TuningStatus.IN_PROGRESS:
            raise InvalidState(f"The hyperparameter tuning job {name} is {job.status.value}; only jobs that are "
                               "InProgress can be stopped.")  # unverified
        job = self.advance(job, TuningStatus.STOPPING, stop_reason=StopReason.USER)
        self.stop_trials(job)
        return job

    def delete(self, scope: Scope, name: str) -> None:
        """Deletes the tuning job's record only; its training jobs stay."""
        job = self.repo.get(scope, name)
        if not job.terminal:
            raise InvalidState(f"The hyperparameter tuning job {name} is {job.status.value}; stop it before "
                               "deleting it.")  # unverified
        self.repo.delete(scope, name)
        self._spaces.pop(job.arn, None)

    def stop_trials(self, job: TuningJob) -> None:
        for t in self.repo.trials(job.scope, job.name):
            self.stop_trial(t)
        self.notify()

    def stop_trial(self, trial: Trial, *, early: bool = False) -> None:
        try:
            tj = self.training.get(trial.scope, trial.training_job)
            if tj.status == JobStatus.IN_PROGRESS:
                self.training.stop(trial.scope, trial.training_job)
        except (NotFound, InvalidState):
            return
        if not trial.stop_requested or (early and not trial.early_stopped):
            trial.stop_requested = True
            trial.early_stopped = trial.early_stopped or early
            self.repo.save_trial(trial)

    # -- the one status writer -------------------------------------------------------------------
    def advance(self, job: TuningJob, status: TuningStatus | None, **changes: Any) -> TuningJob:
        """Move `job` to `status` (None: keep it) with `changes`; compare-and-set on the stored status."""
        def change(job: TuningJob) -> None:
            target = status or job.status
            if target != job.status and target not in ALLOWED[job.status]:
                raise InvalidState(f"Tuning job {job.name} is {job.status.value}; it cannot move to {target.value}.")
            job.status, job.modified_at = target, clock.epoch()
            for key, value in changes.items():
                setattr(job, key, value)
            if target in TERMINAL and job.ended_at is None:
                job.ended_at = job.modified_at

        return self.repo.apply(job, change)

    # -- trials ------------------------------------------------------------------------------------
    @staticmethod
    def trial_request(job: TuningJob, definition: Definition, tuned: dict[str, str], name: str) -> dict[str, Any]:
        """The CreateTrainingJob request of one trial: the definition, static + tuned hyperparameters,
        and `_tuning_objective_metric` (as SageMaker passes it)."""
        d = definition.request
        body: dict[str, Any] = {k: d[k] for k in _COPIED if d.get(k) is not None}
        body["TrainingJobName"] = name
        body["AlgorithmSpecification"] = {k: d["AlgorithmSpecification"][k] for k in _ALGO
                                          if d["AlgorithmSpecification"].get(k) is not None}
        body["HyperParameters"] = {**definition.static, **tuned,
                                   "_tuning_objective_metric": definition.objective["MetricName"]}
        body["ResourceConfig"] = _resources(d)
        return body

    def summaries(self, job: TuningJob) -> list[views.TrialSummary]:
        space, _ = self.space(job)
        objectives = {d.name: d.objective for d in space.definitions}
        return views.summaries(job, self.repo.trials(job.scope, job.name), self.training, objectives)

    def parent_summaries(self, job: TuningJob) -> list[views.TrialSummary]:
        out: list[views.TrialSummary] = []
        for p in (job.spec.get("WarmStartConfig") or {}).get("ParentHyperParameterTuningJobs") or []:
            try:
                out += self.summaries(self.repo.get(job.scope, p["HyperParameterTuningJobName"]))
            except NotFound:
                continue
        return out


def _resources(d: dict[str, Any]) -> dict[str, Any]:
    if d.get("ResourceConfig"):
        return dict(d["ResourceConfig"])
    hp = d["HyperParameterTuningResourceConfig"]
    first = (hp.get("InstanceConfigs") or [{}])[0]
    out = {"InstanceType": hp.get("InstanceType") or first.get("InstanceType", "ml.m5.large"),
           "InstanceCount": hp.get("InstanceCount") or first.get("InstanceCount", 1),
           "VolumeSizeInGB": hp.get("VolumeSizeInGB") or first.get("VolumeSizeInGB", 30)}
    if hp.get("VolumeKmsKeyId"):
        out["VolumeKmsKeyId"] = hp["VolumeKmsKeyId"]
    return out
