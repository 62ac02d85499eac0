"""Metrics the SageMaker XGBoost container computes itself (accuracy, f1, mse, r2, ...).

XGBoost hands a custom metric the transformed predictions (probabilities for binary:logistic, class
probabilities for multi:softprob); class metrics round or arg-max them as the container does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def _labels_from(preds: np.ndarray, objective: str) -> np.ndarray:
    """Class predictions from what XGBoost hands a custom metric (transformed predictions)."""
    if preds.ndim == 2:
        return np.argmax(preds, axis=1)
    if objective == "binary:logitraw":
        return (preds > 0).astype(np.float64)
    return np.round(preds)


_Fn = Callable[[np.ndarray, np.ndarray, np.ndarray], float]  # (labels, predictions, classes) -> value


def _metric_fn(name: str) -> _Fn:
    from sklearn import metrics as skm  # imported only when a custom metric is asked for

    def classify(fn: Callable[..., float], **kw: Any) -> _Fn:
        return lambda y, _raw, labels: float(fn(y, labels, **kw))

    table: dict[str, _Fn] = {
        "accuracy": classify(skm.accuracy_score),
        "balanced_accuracy": classify(skm.balanced_accuracy_score),
        "f1": classify(skm.f1_score, average="macro"),
        "f1_binary": classify(skm.f1_score, average="binary", zero_division=0),
        "f1_macro": classify(skm.f1_score, average="macro", zero_division=0),
        "precision": classify(skm.precision_score, average="binary", zero_division=0),
        "precision_macro": classify(skm.precision_score, average="macro", zero_division=0),
        "precision_micro": classify(skm.precision_score, average="micro", zero_division=0),
        "recall": classify(skm.recall_score, average="binary", zero_division=0),
        "recall_macro": classify(skm.recall_score, average="macro", zero_division=0),
        "recall_micro": classify(skm.recall_score, average="micro", zero_division=0),
        "mse": lambda y, raw, _labels: float(skm.mean_squared_error(y, raw)),
        "r2": lambda y, raw, _labels: float(skm.r2_score(y, raw)),
    }
    return table[name]


def custom_metric(names: Sequence[str], objective: str, num_class: int | None) -> Callable[..., Any]:
    """An `xgb.train(custom_metric=...)` function computing `names` (a list of (name, value))."""
    fns = [(n, _metric_fn(n)) for n in names]

    def evaluate(preds: np.ndarray, dmatrix: Any) -> list[tuple[str, float]]:
        y = dmatrix.get_label()
        preds = np.asarray(preds)
        if preds.ndim == 1 and num_class and preds.size == len(y) * num_class and num_class > 1:
            preds = preds.reshape(len(y), num_class)
        labels = _labels_from(preds, objective)
        raw = preds if preds.ndim == 1 else labels
        return [(name, fn(y, raw, labels)) for name, fn in fns]

    return evaluate
