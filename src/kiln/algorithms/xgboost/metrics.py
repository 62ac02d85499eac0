"""Built-in metric definitions of SageMaker's XGBoost algorithm.

The algorithm prints one line per boosting round, `[3]#011train-rmse:0.51234#011validation-rmse:0.6`,
as SageMaker's container logs show it (`#011` is the tab of XGBoost's evaluation line). The training
service matches `METRIC_DEFINITIONS` against the job's log to fill FinalMetricDataList and to read a
tuning job's objective without user metric definitions.

Standard library only: the server imports this module without the `algorithms` extra installed.
"""

from __future__ import annotations

from typing import Any

_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"

MAXIMIZE_METRICS: frozenset[str] = frozenset({
    "accuracy", "auc", "aucpr", "balanced_accuracy", "f1", "f1_binary", "f1_macro", "map", "ndcg", "pre",
    "precision", "precision_macro", "precision_micro", "r2", "recall", "recall_macro", "recall_micro",
    "interval-regression-accuracy",
})

# Metrics XGBoost computes natively (eval_metric).
NATIVE_METRICS: frozenset[str] = frozenset({
    "rmse", "rmsle", "mae", "mape", "mphe", "logloss", "error", "merror", "mlogloss", "auc", "aucpr",
    "ndcg", "map", "poisson-nloglik", "gamma-nloglik", "cox-nloglik", "gamma-deviance", "tweedie-nloglik",
    "aft-nloglik", "interval-regression-accuracy", "quantile",
})

# Metrics the SageMaker container computes itself (passed to xgb.train as a custom metric).
CUSTOM_METRICS: frozenset[str] = frozenset({
    "accuracy", "balanced_accuracy", "f1", "f1_binary", "f1_macro", "mse", "precision", "precision_macro",
    "precision_micro", "r2", "recall", "recall_macro", "recall_micro",
})

# Metrics with a built-in definition, in SageMaker's order (documented tuning metrics first).
DEFINED_METRICS: tuple[str, ...] = (
    "accuracy", "auc", "error", "f1", "logloss", "mae", "map", "merror", "mlogloss", "mse", "ndcg", "rmse",
    "aucpr", "balanced_accuracy", "cox-nloglik", "f1_binary", "f1_macro", "gamma-deviance", "gamma-nloglik",
    "mape", "mphe", "poisson-nloglik", "precision", "precision_macro", "precision_micro", "r2", "recall",
    "recall_macro", "recall_micro", "rmsle", "tweedie-nloglik",
)


def _definition(split: str, metric: str) -> dict[str, str]:
    return {"Name": f"{split}:{metric}", "Regex": rf".*\[[0-9]+\].*#011{split}-{metric}:{_NUMBER}.*"}


METRIC_DEFINITIONS: list[dict[str, str]] = [
    _definition(split, metric) for split in ("validation", "train") for metric in DEFINED_METRICS
]


def objective_metric_names() -> list[str]:
    """Metric names a tuning job may name as its objective for this algorithm."""
    return [d["Name"] for d in METRIC_DEFINITIONS]


def metric_direction(name: str) -> str:
    """'Maximize' or 'Minimize' for `validation:auc`, `train:rmse`, `auc`, `ndcg@5`, ..."""
    metric = name.split(":", 1)[-1].split("@", 1)[0]
    return "Maximize" if metric in MAXIMIZE_METRICS else "Minimize"


def format_evaluation(iteration: int, evals_log: dict[str, dict[str, list[Any]]], sep: str = "#011") -> str:
    """One evaluation line: `[i]#011train-rmse:0.12345#011validation-rmse:0.23456`."""
    parts = [f"[{iteration}]"]
    for data, metrics in evals_log.items():
        for metric, log in metrics.items():
            score = log[-1]
            if isinstance(score, tuple):
                parts.append(f"{data}-{metric}:{score[0]:.5f}+{score[1]:.5f}")
            else:
                parts.append(f"{data}-{metric}:{score:.5f}")
    return sep.join(parts)
