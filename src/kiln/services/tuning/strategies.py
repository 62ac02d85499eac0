"""Strategies on Optuna: which sampler proposes the next combination and which pruner stops a trial.

| Strategy  | sampler                                   | pruner                                   |
|-----------|-------------------------------------------|------------------------------------------|
| Bayesian  | TPE (multivariate, constant liar)         | `MedianRule` when early stopping is Auto |
| Random    | uniform random                            | `MedianRule` when early stopping is Auto |
| Grid      | exhaustive over every grid point          | `MedianRule` when early stopping is Auto |
| Hyperband | TPE, per bracket                          | Optuna's Hyperband (asynchronous SHA)    |

A fresh sampler is made for every ask, seeded from the tuning job's seed and the trial number, so a
proposal depends only on (seed, trial number, what the study holds): a run is reproducible with
`RandomSeed`, and a rebuilt study (after a restart) proposes what the lost one would have.
"""

from __future__ import annotations

import json
import statistics
import warnings
from typing import Any

import optuna
from optuna.pruners import BasePruner, HyperbandPruner
from optuna.samplers import BaseSampler, GridSampler, RandomSampler, TPESampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from kiln.core.errors import InvalidInput
from kiln.services.tuning.space import GRID_PARAM

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

EPOCH_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")  # SageMaker's MaxResource inference
MAX_RESOURCE = 20_000
MEDIAN_RULE_MIN_TRIALS = 3  # earlier trials that must have reached a step before the rule applies (Kiln's choice)


def trial_seed(seed: int, number: int) -> int:
    return (seed * 1_000_003 + number * 7_919) % (2**32)


def startup_trials(max_jobs: int) -> int:
    """Random trials before the model takes over: 10 for long runs, fewer for short ones."""
    return max(3, min(10, max_jobs // 5))


def make_sampler(strategy: str, seed: int, *, max_jobs: int, grid_size: int = 0, grouped: bool = False) -> BaseSampler:
    if strategy == "Random":
        return RandomSampler(seed=seed)
    if strategy == "Grid":
        return _Grid({GRID_PARAM: list(range(grid_size))}, seed=seed)
    return TPESampler(seed=seed, n_startup_trials=startup_trials(max_jobs), multivariate=True, group=grouped,
                      constant_liar=True)


class _Grid(GridSampler):
    """GridSampler without its `study.stop()` once the grid is exhausted: the job's trial count (the
    grid's size) ends the search, and ask-and-tell has no optimize loop to stop."""

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Any) -> None:
        return None


def hyperband_resources(config: dict[str, Any], static: dict[str, str]) -> tuple[int, int]:
    """(MinResource, MaxResource) for Hyperband; MaxResource falls back on an epochs-like static
    hyperparameter, as SageMaker documents.

    Raises:
        InvalidInput: no MaxResource can be found, or the pair is out of range.
    """
    hb = (config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig") or {}
    low = int(hb.get("MinResource", 1))
    high = hb.get("MaxResource")
    if high is None:
        for key in EPOCH_KEYS:
            if key in static:
                try:
                    high = int(float(_decode(static[key])))
                except (TypeError, ValueError):
                    continue
                break
    if high is None:
        raise InvalidInput("HyperbandStrategyConfig.MaxResource is required when no static hyperparameter among "
                           f"{', '.join(EPOCH_KEYS)} gives the number of epochs.")
    high = int(high)
    if high > MAX_RESOURCE:
        raise InvalidInput(f"HyperbandStrategyConfig.MaxResource must be at most {MAX_RESOURCE}.")
    if low > high:
        raise InvalidInput("HyperbandStrategyConfig.MinResource must be less than or equal to MaxResource.")
    return low, high


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def make_pruner(strategy: str, early_stopping: str, resources: tuple[int, int] | None) -> BasePruner | None:
    if strategy == "Hyperband" and resources is not None:
        low, high = resources
        return HyperbandPruner(min_resource=low, max_resource=high, reduction_factor=3)
    if early_stopping == "Auto":
        return MedianRule()
    return None


class MedianRule(BasePruner):
    """SageMaker's documented early-stopping rule (`TrainingJobEarlyStoppingType=Auto`).

    After each epoch (each value of the objective metric a trial prints), take the running average
    of the objective of every earlier trial up to that same epoch, and their median; stop the trial
    if its current value is worse than that median. Applies once `min_trials` earlier trials reached
    the epoch.
    """

    def __init__(self, min_trials: int = MEDIAN_RULE_MIN_TRIALS) -> None:
        self.min_trials = min_trials

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        value = trial.intermediate_values[step]
        averages = []
        for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                               TrialState.RUNNING)):
            if other.number >= trial.number or step not in other.intermediate_values:
                continue
            upto = [v for s, v in other.intermediate_values.items() if s <= step]
            averages.append(sum(upto) / len(upto))
        if len(averages) < self.min_trials:
            return False
        median = statistics.median(averages)
        if study.direction == StudyDirection.MAXIMIZE:
            return value < median
        return value > median
