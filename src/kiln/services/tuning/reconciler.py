"""Drives every in-progress tuning job: asks the study for combinations, launches each as a training
job (never more at once than MaxParallelTrainingJobs), feeds the objective values a trial prints to
the pruner (early stopping, Hyperband), tells the sampler each result, retries trials that failed
with a retryable error, applies the completion criteria and limits, and finishes the job.

Everything it decides is written to the tuning tables before it acts, so after a restart the study
is rebuilt from them and the job carries on. Each tick runs in a worker thread; one job's error
never stops the others, and the loop never dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from kiln.core import clock, ids
from kiln.core.errors import DomainError, InvalidInput, NotFound
from kiln.core.jobs.lifecycle import JobStatus
from kiln.core.loop import ControlLoop
from kiln.services.tuning import completion, strategies
from kiln.services.tuning.models import StopReason, Trial, TuningJob, TuningStatus, Verdict
from kiln.services.tuning.service import TuningService
from kiln.services.tuning.space import Space
from kiln.services.tuning.study import Point, TuningStudy
from kiln.services.tuning.views import RETRYABLE_PREFIX

LOG = logging.getLogger(__name__)
NAMESPACE = "/aws/sagemaker/TrainingJobs"
DEFAULT_RETRIES = 2  # retries of a trial that failed with InternalServerError, without a RetryStrategy (Kiln's)


class TuningReconciler:
    def __init__(self, service: TuningService, metrics: Any | None, interval: float = 0.5) -> None:
        self.service = service
        self.repo = service.repo
        self.metrics = metrics  # kiln.services.metrics.store.MetricStore
        self.studies: dict[str, TuningStudy] = {}
        self._control = ControlLoop("tuning-reconciler", lambda: asyncio.to_thread(self.tick), interval)

    # -- loop ------------------------------------------------------------------------------------
    def notify(self) -> None:
        """Thread-safe: wake the loop now."""
        self._control.notify()

    async def start(self) -> None:
        self._control.start()

    async def stop(self) -> None:
        await self._control.stop()

    def tick(self) -> None:
        active = self.repo.list(statuses=(TuningStatus.IN_PROGRESS.value, TuningStatus.STOPPING.value))
        for job in active:
            try:
                self.drive(job)
            except Exception as exc:
                LOG.exception("tuning job %s: reconcile failed", job.name)
                if isinstance(exc, InvalidInput):
                    with contextlib.suppress(DomainError):
                        self._fail(self.repo.get(job.scope, job.name), exc.message)
        live = {j.arn for j in active}
        for arn in [a for a in self.studies if a not in live]:
            del self.studies[arn]

    # -- one job ---------------------------------------------------------------------------------
    def drive(self, job: TuningJob) -> None:
        space, total = self.service.space(job)
        study = self._study(job, space, total)
        for t in self._latest(job).values():
            if t.verdict == Verdict.RUNNING:
                self._follow(job, study, space, t)
        job = self.repo.get(job.scope, job.name)
        latest = self._latest(job)
        running = [n for n, t in latest.items() if t.verdict == Verdict.RUNNING]
        if job.stop_reason is not None:  # a trial launched while the job was being stopped
            for n in running:
                if not latest[n].stop_requested:
                    self.service.stop_trial(latest[n])
        if job.status == TuningStatus.IN_PROGRESS:
            job = self._limits(job, total)
        if job.status == TuningStatus.IN_PROGRESS and job.stop_reason is None:
            number = len(latest)
            while len(running) < job.max_parallel and number < total:
                number += 1
                self._launch(job, study, number)
                running.append(number)
        if not running and (len(latest) >= total or job.stop_reason is not None):
            self._finish(job)

    def _latest(self, job: TuningJob) -> dict[int, Trial]:
        latest: dict[int, Trial] = {}
        for t in self.repo.trials(job.scope, job.name):
            latest[t.number] = t
        return latest

    def _study(self, job: TuningJob, space: Space, total: int) -> TuningStudy:
        study = self.studies.get(job.arn)
        if study is None:
            resources = None
            if job.strategy == "Hyperband":
                resources = strategies.hyperband_resources(job.config, space.definitions[0].static)
            pruner = strategies.make_pruner(job.strategy, job.config.get("TrainingJobEarlyStoppingType", "Off"),
                                            resources)
            study = TuningStudy(job, space, max_jobs=total, pruner=pruner, warm=self._warm_points(job, space))
            study.restore(self.repo.trials(job.scope, job.name))
            self.studies[job.arn] = study
        return study

    def _warm_points(self, job: TuningJob, space: Space) -> list[Point]:
        points = []
        for s in self.service.parent_summaries(job):
            if s.objective_status != "Succeeded" or s.value is None:
                continue
            params = space.from_hyperparameters(s.definition, s.hyperparameters)
            if params:
                points.append(Point(params, s.value))
        return points

    # -- trials ----------------------------------------------------------------------------------
    def _launch(self, job: TuningJob, study: TuningStudy, number: int) -> None:
        definition, params, tuned = study.ask(number)
        trial = Trial(scope=job.scope, tuning_job=job.name, number=number, attempt=1,
                      training_job=f"{job.name}-{number:03d}-{ids.short_hex(8)}", definition=definition.name,
                      params=params, tuned=tuned, created_at=clock.epoch(),
                      system_attrs=study.system_attrs(number))
        self.repo.add_trial(trial)  # first: a crash before the training job exists is repaired by _follow
        self._create_training_job(job, trial)
        LOG.info("tuning job %s: trial %d -> %s %s", job.name, number, trial.training_job, tuned)

    def _create_training_job(self, job: TuningJob, trial: Trial) -> None:
        space, _ = self.service.space(job)
        request = self.service.trial_request(job, space.definition(trial.definition), trial.tuned,
                                             trial.training_job)
        self.service.training.create(job.scope, request, tuning_job_arn=job.arn)

    def _follow(self, job: TuningJob, study: TuningStudy, space: Space, t: Trial) -> None:
        try:
            tj = self.service.training.get(job.scope, t.training_job)
        except NotFound:
            self._create_training_job(job, t)
            return
        metric = space.definition(t.definition).objective["MetricName"]
        values = self._values(job, t.training_job, metric)
        if len(values) > len(t.intermediate):
            stop = study.report(t.number, values, len(t.intermediate))
            t.intermediate, t.system_attrs = values, study.system_attrs(t.number)
            self.repo.save_trial(t)
            if not tj.terminal and not t.stop_requested and job.status == TuningStatus.IN_PROGRESS:
                if stop:
                    LOG.info("tuning job %s: stopping trial %s early", job.name, t.training_job)
                    self.service.stop_trial(t, early=True)
                elif len(values) > self._max_resource(job, space):  # past MaxResource (not racing its end)
                    self.service.stop_trial(t)
        if not tj.terminal:
            return
        final = next((m["Value"] for m in tj.final_metrics if m.get("MetricName") == metric), None)
        if final is None and values:
            final = values[-1]
        if tj.status == JobStatus.FAILED and self._retry(job, space, t, tj.failure_reason):
            return
        if tj.status == JobStatus.COMPLETED and final is not None:
            verdict = Verdict.COMPLETE
        elif tj.status == JobStatus.STOPPED and final is not None:
            verdict = Verdict.PRUNED if t.early_stopped else Verdict.COMPLETE
        else:
            verdict, final = Verdict.FAILED, None
        study.tell(t.number, verdict, final)
        t.verdict, t.value, t.system_attrs = verdict, final, study.system_attrs(t.number)
        self.repo.save_trial(t)

    def _values(self, job: TuningJob, training_job: str, metric: str) -> list[float]:
        if self.metrics is None:
            return []
        return [p.value for p in self.metrics.raw(job.scope, NAMESPACE, metric, {"TrainingJobName": training_job})]

    @staticmethod
    def _max_resource(job: TuningJob, space: Space) -> float:
        if job.strategy != "Hyperband":
            return float("inf")
        return strategies.hyperband_resources(job.config, space.definitions[0].static)[1]

    def _retry(self, job: TuningJob, space: Space, t: Trial, reason: str | None) -> bool:
        """Start a new attempt of a trial that failed with a retryable error, within the limit."""
        if not (reason or "").startswith(RETRYABLE_PREFIX):
            return False
        definition = space.definition(t.definition)
        limit = int((definition.request.get("RetryStrategy") or {}).get("MaximumRetryAttempts", DEFAULT_RETRIES))
        if t.attempt > limit or job.status != TuningStatus.IN_PROGRESS or job.stop_reason is not None:
            return False
        t.verdict = Verdict.RETRIED
        self.repo.save_trial(t)
        again = Trial(scope=t.scope, tuning_job=t.tuning_job, number=t.number, attempt=t.attempt + 1,
                      training_job=f"{job.name}-{t.number:03d}-{ids.short_hex(8)}", definition=t.definition,
                      params=t.params, tuned=t.tuned, created_at=clock.epoch(), intermediate=list(t.intermediate),
                      system_attrs=t.system_attrs)
        self.repo.add_trial(again)
        self._create_training_job(job, again)
        LOG.info("tuning job %s: retrying trial %d as %s", job.name, t.number, again.training_job)
        return True

    # -- limits, criteria, the end ----------------------------------------------------------------
    def _limits(self, job: TuningJob, total: int) -> TuningJob:
        if job.max_runtime is not None and clock.epoch() - job.created_at >= job.max_runtime:
            LOG.info("tuning job %s: MaxRuntimeInSeconds reached", job.name)
            job = self.service.advance(job, TuningStatus.STOPPING, stop_reason=StopReason.MAX_RUNTIME)
            self.service.stop_trials(job)
            return job
        summaries = sorted((s for s in self.service.summaries(job) if s.objective_status == "Succeeded"),
                           key=lambda s: (s.ended_at or 0.0, s.number))
        maximize = summaries[0].objective_type == "Maximize" if summaries else False
        state = completion.progress([s.value for s in summaries if s.value is not None],
                                    job.config.get("TuningJobCompletionCriteria"), maximize=maximize,
                                    max_jobs=total)
        changes: dict[str, Any] = {}
        if state.not_improving != job.not_improving:
            changes["not_improving"] = state.not_improving
        if state.reason is not None and job.stop_reason is None:
            LOG.info("tuning job %s: completion criterion met (%s)", job.name, state.reason.value)
            changes["stop_reason"] = state.reason
            if state.reason == StopReason.CONVERGED:
                changes["converged_at"] = clock.epoch()
        if changes:
            job = self.service.advance(job, None, **changes)
            if "stop_reason" in changes:
                self.service.stop_trials(job)
        return job

    def _finish(self, job: TuningJob) -> None:
        items = self.service.summaries(job)
        if job.status == TuningStatus.STOPPING:
            self.service.advance(job, TuningStatus.STOPPED)
        elif any(s.objective_status == "Succeeded" for s in items):
            self.service.advance(job, TuningStatus.COMPLETED)
        else:
            first = next((s.failure_reason for s in items if s.failure_reason), None)
            reason = (f"No training job succeeded after {len(items)} attempts. Please take a look at the "
                      "training job failures to get more details.")  # unverified
            if first:
                reason += f" First failure: {first}"
            self._fail(job, reason[:1024])
        LOG.info("tuning job %s finished", job.name)

    def _fail(self, job: TuningJob, reason: str) -> None:
        if job.terminal:
            return
        self.service.advance(job, TuningStatus.FAILED, failure_reason=reason[:1024],
                             stop_reason=job.stop_reason or StopReason.ALL_FAILED)
        self.service.stop_trials(job)
