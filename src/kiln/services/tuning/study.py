"""The Optuna study of one tuning job, in memory, rebuilt from Kiln's rows.

Numbering: warm-start points from parent jobs come first (Optuna numbers 0..k-1), then trial N of
this job is Optuna trial k + N - 1. Rebuilding adds the same trials in the same order with their
params, values, intermediate values and system attributes (where the pruners and the grid sampler
keep their bookkeeping), so the rebuilt study decides exactly as the lost one would have.

Not thread-safe: one reconciler thread owns each study.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState, create_trial

from kiln.services.tuning import strategies
from kiln.services.tuning.models import Trial, TuningJob, Verdict
from kiln.services.tuning.space import Definition, Space

_STATE = {Verdict.COMPLETE: TrialState.COMPLETE, Verdict.PRUNED: TrialState.PRUNED, Verdict.FAILED: TrialState.FAIL}


@dataclass(frozen=True, slots=True)
class Point:
    """A finished evaluation from a parent job, already mapped into this job's space."""

    params: dict[str, Any]
    value: float
    intermediate: tuple[float, ...] = ()


class TuningStudy:
    def __init__(self, job: TuningJob, space: Space, *, max_jobs: int, pruner: optuna.pruners.BasePruner | None,
                 warm: list[Point] = ()) -> None:  # type: ignore[assignment]
        self.job = job
        self.space = space
        self.grid = job.strategy == "Grid"
        self.max_jobs = max_jobs
        objective = space.definitions[0].objective
        direction = "maximize" if objective.get("Type") == "Maximize" else "minimize"
        # No pruner means none: Optuna would otherwise default to its own MedianPruner.
        self.study = optuna.create_study(study_name=job.arn, direction=direction,
                                         pruner=pruner or optuna.pruners.NopPruner(),
                                         sampler=self._sampler(0))
        self.live: dict[int, optuna.trial.Trial] = {}
        self.offset = 0
        if not self.grid:
            for p in warm:
                self.study.add_trial(create_trial(
                    state=TrialState.COMPLETE, value=p.value, params=p.params,
                    distributions=space.distributions(p.params),
                    intermediate_values={i + 1: v for i, v in enumerate(p.intermediate)}))
                self.offset += 1

    def _sampler(self, number: int) -> optuna.samplers.BaseSampler:
        grid_size = len(self.space.grid()) if self.grid else 0
        # The grid sampler shuffles its points with its seed: the job's seed keeps the order stable.
        seed = self.job.seed if self.grid else strategies.trial_seed(self.job.seed, number)
        return strategies.make_sampler(self.job.strategy, seed,
                                       max_jobs=self.max_jobs, grid_size=grid_size, grouped=self.space.multi)

    # -- rebuild ---------------------------------------------------------------------------------
    def restore(self, trials: list[Trial]) -> None:
        """Add this job's trials (every attempt, by number and attempt) to a fresh study."""
        latest: dict[int, Trial] = {}
        for t in trials:
            latest[t.number] = t
        for number in sorted(latest):
            t = latest[number]
            state = _STATE.get(t.verdict, TrialState.RUNNING)
            frozen = create_trial(
                state=state, value=t.value if state == TrialState.COMPLETE else None, params=t.params,
                distributions=self.space.distributions(t.params, grid=self.grid),
                intermediate_values={i + 1: v for i, v in enumerate(t.intermediate)},
                system_attrs=t.system_attrs)
            self.study.add_trial(frozen)
            if state == TrialState.RUNNING:
                trial_id = self.study._storage.get_all_trials(self.study._study_id, deepcopy=False)[-1]._trial_id
                self.live[number] = optuna.trial.Trial(self.study, trial_id)

    # -- ask and tell ------------------------------------------------------------------------------
    def ask(self, number: int) -> tuple[Definition, dict[str, Any], dict[str, str]]:
        """Propose trial `number`: (definition, sampler params, tuned hyperparameter strings)."""
        self.study.sampler = self._sampler(number)
        trial = self.study.ask()
        definition, tuned = self.space.suggest_grid(trial) if self.grid else self.space.suggest(trial)
        self.live[number] = trial
        return definition, dict(trial.params), tuned

    def report(self, number: int, values: list[float], start: int) -> bool:
        """Report intermediate values (step = index + 1) from `start`; True when the pruner says stop."""
        trial = self.live.get(number)
        if trial is None or start >= len(values):
            return False
        for step in range(start, len(values)):
            trial.report(values[step], step + 1)
        if isinstance(self.study.pruner, optuna.pruners.NopPruner):
            return False
        return bool(trial.should_prune())

    def tell(self, number: int, verdict: Verdict, value: float | None) -> None:
        trial = self.live.pop(number, None)
        if trial is None:
            return
        if verdict == Verdict.COMPLETE and value is not None:
            self.study.tell(trial, value)
        elif verdict == Verdict.PRUNED:
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, state=TrialState.FAIL)

    def system_attrs(self, number: int) -> dict[str, Any]:
        index = self.offset + number - 1
        trials = self.study._storage.get_all_trials(self.study._study_id, deepcopy=False)
        return dict(trials[index].system_attrs) if index < len(trials) else {}
