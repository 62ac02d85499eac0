"""Hyperparameters of SageMaker's built-in XGBoost algorithm (1.7-1), validated as the container does.

Values arrive as strings (hyperparameters.json). Names, ranges and aliases follow SageMaker's XGBoost
hyperparameter documentation; a few names that SageMaker 1.7-1 documents but that XGBoost 2+ removed
(`silent`, `predictor`, `sketch_eps`, ...) are accepted and dropped with a log line, and other valid
XGBoost parameters that SageMaker does not list are passed through for XGBoost to check.
"""

from __future__ import annotations

import ast
import json
import math
from dataclasses import dataclass, field
from typing import Any

from kiln.algorithms.xgboost.errors import ClientError
from kiln.algorithms.xgboost.metrics import CUSTOM_METRICS, MAXIMIZE_METRICS, NATIVE_METRICS

INF = math.inf


@dataclass(frozen=True, slots=True)
class Spec:
    """One hyperparameter: kind is int, float, cat, metrics, tuple, nested, bool or str."""

    kind: str
    low: float = -INF
    high: float = INF
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()

    def describe_range(self) -> str:
        left = "(" if self.low_open or self.low == -INF else "["
        right = ")" if self.high_open or self.high == INF else "]"
        return f"{left}{_num(self.low)}, {_num(self.high)}{right}"

    def contains(self, value: float) -> bool:
        below = value <= self.low if self.low_open else value < self.low
        above = value >= self.high if self.high_open else value > self.high
        return not (below or above)


def _num(x: float) -> str:
    if x in (INF, -INF):
        return "+inf" if x > 0 else "-inf"
    return str(int(x)) if float(x).is_integer() else str(x)


def _i(low: float = -INF, high: float = INF) -> Spec:
    return Spec("int", low, high)


def _f(low: float = -INF, high: float = INF, low_open: bool = False, high_open: bool = False) -> Spec:
    return Spec("float", low, high, low_open, high_open)


def _c(*choices: str) -> Spec:
    return Spec("cat", choices=choices)


OBJECTIVES = (
    "binary:logistic", "binary:logitraw", "binary:hinge", "count:poisson", "multi:softmax",
    "multi:softprob", "rank:pairwise", "rank:ndcg", "rank:map", "reg:linear", "reg:squarederror",
    "reg:logistic", "reg:gamma", "reg:squaredlogerror", "reg:tweedie", "reg:pseudohubererror",
    "reg:absoluteerror", "reg:quantileerror", "survival:cox", "survival:aft",
)

SPECS: dict[str, Spec] = {
    "num_round": _i(1),
    "num_class": _i(2),
    "alpha": _f(0),
    "base_score": _f(),
    "booster": _c("gbtree", "gblinear", "dart"),
    "colsample_bylevel": _f(0, 1, low_open=True),
    "colsample_bynode": _f(0, 1, low_open=True),
    "colsample_bytree": _f(0, 1, low_open=True),
    "csv_weights": _i(0, 1),
    "early_stopping_rounds": _i(1),
    "eta": _f(0, 1),
    "eval_metric": Spec("metrics"),
    "gamma": _f(0),
    "grow_policy": _c("depthwise", "lossguide"),
    "interaction_constraints": Spec("nested"),
    "lambda": _f(0),
    "max_bin": _i(2),
    "max_delta_step": _f(0),
    "max_depth": _i(0),
    "max_leaves": _i(0),
    "min_child_weight": _f(0),
    "monotone_constraints": Spec("tuple"),
    "normalize_type": _c("tree", "forest"),
    "nthread": _i(1),
    "num_parallel_tree": _i(1),
    "objective": _c(*OBJECTIVES),
    "one_drop": _i(0, 1),
    "process_type": _c("default", "update"),
    "rate_drop": _f(0, 1),
    "refresh_leaf": _i(0, 1),
    "sample_type": _c("uniform", "weighted"),
    "sampling_method": _c("uniform", "gradient_based"),
    "scale_pos_weight": _f(0, low_open=True),
    "seed": _i(-(2**31), 2**31 - 1),
    "skip_drop": _f(0, 1),
    "subsample": _f(0, 1, low_open=True),
    "tree_method": _c("auto", "exact", "approx", "hist", "gpu_hist"),
    "tweedie_variance_power": _f(1, 2, low_open=True, high_open=True),
    "updater": Spec("str"),
    "verbosity": _i(0, 3),
    "save_model_on_termination": Spec("bool"),
    "_tuning_objective_metric": Spec("str"),
}

ALIASES = {"learning_rate": "eta", "min_split_loss": "gamma", "reg_lambda": "lambda", "reg_alpha": "alpha"}

# Documented for SageMaker XGBoost 1.7-1 but gone from XGBoost 2+: accepted, logged, not passed on.
DROPPED = {
    "silent": "use verbosity",
    "predictor": "XGBoost 2 chooses the predictor from `device`",
    "dsplit": "removed in XGBoost 1.x",
    "sketch_eps": "replaced by max_bin in XGBoost 2",
    "lambda_bias": "removed in XGBoost 1.x",
    "single_precision_histogram": "removed in XGBoost 2",
    "deterministic_histogram": "histograms are always deterministic in XGBoost 2",
    "use_dask_gpu_training": "Kiln trains XGBoost in a single process",
    "prob_buffer_row": "removed in XGBoost 2",
}

# Valid XGBoost parameters SageMaker's list lacks: passed through as strings, XGBoost validates them.
PASSTHROUGH = frozenset({
    "device", "max_cat_to_onehot", "max_cat_threshold", "multi_strategy", "huber_slope",
    "quantile_alpha", "aft_loss_distribution", "aft_loss_distribution_scale", "feature_selector",
    "top_k", "lambdarank_pair_method", "lambdarank_num_pair_per_sample", "lambdarank_unbiased",
    "lambdarank_bias_norm", "ndcg_exp_gain", "max_cached_hist_node", "validate_parameters",
    "disable_default_eval_metric",
})

NOT_SUPPORTED = {
    "_kfold": "k-fold cross-validation mode (_kfold, _num_cv_round) is not supported by Kiln yet",
    "_num_cv_round": "k-fold cross-validation mode (_kfold, _num_cv_round) is not supported by Kiln yet",
}


@dataclass(slots=True)
class TrainingConfig:
    """What `xgb.train` needs, derived from validated hyperparameters."""

    params: dict[str, Any]
    num_round: int
    early_stopping_rounds: int | None = None
    eval_metrics: list[str] = field(default_factory=list)  # native XGBoost metrics, in order
    custom_metrics: list[str] = field(default_factory=list)  # computed by Kiln (accuracy, f1, ...)
    early_stopping_metric: str | None = None
    csv_weights: int = 0
    tuning_objective_metric: str | None = None
    save_model_on_termination: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def objective(self) -> str:
        return str(self.params.get("objective", "reg:squarederror"))


def _parse(name: str, spec: Spec, raw: str) -> Any:
    text = raw.strip()
    if spec.kind == "int":
        try:
            value = float(text)
            if not value.is_integer():
                raise ValueError(text)
        except ValueError:
            raise ClientError(f"Hyperparameter {name}: value {raw!r} is not an integer; expected an "
                              f"integer in {spec.describe_range()}") from None
        if not spec.contains(value):
            raise ClientError(f"Hyperparameter {name}: value {raw} is not in {spec.describe_range()}")
        return int(value)
    if spec.kind == "float":
        try:
            value = float(text)
            if math.isnan(value):
                raise ValueError(text)
        except ValueError:
            raise ClientError(f"Hyperparameter {name}: value {raw!r} is not a float; expected a float in "
                              f"{spec.describe_range()}") from None
        if not spec.contains(value):
            raise ClientError(f"Hyperparameter {name}: value {raw} is not in {spec.describe_range()}")
        return value
    if spec.kind == "cat":
        if text not in spec.choices:
            options = ", ".join(repr(c) for c in spec.choices)
            raise ClientError(f"Hyperparameter {name}: value {raw!r} is not one of {options}")
        return text
    if spec.kind == "bool":
        if text.lower() not in ("true", "false"):
            raise ClientError(f"Hyperparameter {name}: value {raw!r} is not 'true' or 'false'")
        return text.lower() == "true"
    if spec.kind == "tuple":
        return _parse_monotone(name, text)
    if spec.kind == "nested":
        return _parse_interaction(name, text)
    if spec.kind == "metrics":
        return [_check_metric(m.strip()) for m in text.split(",") if m.strip()]
    return text


def _parse_monotone(name: str, text: str) -> str:
    try:
        value = ast.literal_eval(text)
        items = list(value) if isinstance(value, tuple | list) else [value]
    except (ValueError, SyntaxError):
        items = None
    if items is None or any(v not in (-1, 0, 1) or isinstance(v, bool) for v in items):
        raise ClientError(f"Hyperparameter {name}: value {text!r} must be a tuple of -1, 0 and 1, "
                          "for example '(1,0,-1)'")
    return "(" + ",".join(str(int(v)) for v in items) + ")"


def _parse_interaction(name: str, text: str) -> str:
    try:
        value = ast.literal_eval(text)
        ok = isinstance(value, list) and all(
            isinstance(g, list) and all(isinstance(i, int) and i >= 0 for i in g) for g in value)
    except (ValueError, SyntaxError):
        ok = False
    if not ok:
        raise ClientError(f"Hyperparameter {name}: value {text!r} must be a nested list of feature "
                          "indices, for example '[[0,1],[2,3,4]]'")
    return text


_THRESHOLD_METRICS = ("error", "ndcg", "map", "pre", "tweedie-nloglik")


def _check_metric(metric: str) -> str:
    if metric in NATIVE_METRICS or metric in CUSTOM_METRICS or metric in ("ndcg-", "map-", "pre"):
        return metric
    if "@" in metric:
        base, _, threshold = metric.partition("@")
        if base not in _THRESHOLD_METRICS:
            options = ", ".join(_THRESHOLD_METRICS)
            raise ClientError(f"Metric '{metric}' is not supported. Parameter 'eval_metric' with a "
                              f"customized threshold should be one of these options: {options}.")
        try:
            float(threshold.rstrip("-"))
        except ValueError:
            raise ClientError(f"Threshold value 't' in '{base}@t' expects float input.") from None
        return metric
    if metric.startswith("<function"):
        raise ClientError(f"User defined evaluation metric {metric} is not supported yet.")
    raise ClientError(f"Hyperparameter eval_metric: value {metric!r} is not a supported evaluation metric")


def _unquote(value: str) -> str:
    """`"\"binary:logistic\""` (a JSON-encoded string, as framework estimators send) -> `binary:logistic`."""
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            decoded = json.loads(text)
        except ValueError:
            return value
        return decoded if isinstance(decoded, str) else value
    return value


def _canonical(hps: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, raw in hps.items():
        value = _unquote(str(raw))
        name = ALIASES.get(key, key)
        if name in out:
            raise ClientError(f"Hyperparameter {name} is given twice (as {key} and as an alias)")
        out[name] = value
    return out


def validate(hyperparameters: dict[str, str]) -> TrainingConfig:
    """Validate the job's hyperparameters; raise ClientError with SageMaker-style messages."""
    hps = {k: v for k, v in _canonical(hyperparameters).items() if not k.startswith("sagemaker_")}
    notes: list[str] = []
    if "num_round" not in hps:
        raise ClientError("Missing required hyperparameter: num_round")
    values: dict[str, Any] = {}
    passthrough: dict[str, str] = {}
    for name, raw in hps.items():
        if name in NOT_SUPPORTED:
            raise ClientError(NOT_SUPPORTED[name])
        if name in DROPPED:
            notes.append(f"Hyperparameter {name}={raw} is ignored: {DROPPED[name]}.")
        elif name in SPECS:
            values[name] = _parse(name, SPECS[name], str(raw))
        elif name in PASSTHROUGH:
            passthrough[name] = str(raw)
        else:
            raise ClientError(f"Extraneous hyperparameter found: {name} (not a hyperparameter of the "
                              "SageMaker XGBoost algorithm)")
    return _build(values, passthrough, notes)


def _build(values: dict[str, Any], passthrough: dict[str, str], notes: list[str]) -> TrainingConfig:
    objective = values.get("objective", "reg:squarederror")
    if objective == "reg:linear":
        notes.append("objective reg:linear is deprecated; training with reg:squarederror.")
        objective = values["objective"] = "reg:squarederror"
    if objective.startswith("multi:") and "num_class" not in values:
        raise ClientError("Require input for parameter 'num_class' for multi-classification")
    if "num_class" in values and not objective.startswith("multi:"):
        raise ClientError("Do not need to setup parameter 'num_class' for learning task other than "
                          "multi-classification.")
    tree_method = values.get("tree_method")
    if "monotone_constraints" in values and tree_method not in (None, "auto", "exact", "hist", "gpu_hist"):
        raise ClientError("monotone_constraints can be used only when the tree_method parameter is set to "
                          "either 'exact' or 'hist'.")
    metrics: list[str] = list(values.pop("eval_metric", []))
    if any(m == "auc" for m in metrics) and not objective.startswith(("binary:", "rank:", "multi:")):
        raise ClientError("Metric 'auc' can only be applied for classification and ranking problems.")
    tuning = values.pop("_tuning_objective_metric", None)
    tuning_metric = None
    if tuning:
        tuning_metric = tuning.split(":", 1)[-1]
        _check_metric(tuning_metric)
        if tuning_metric not in metrics:
            metrics.append(tuning_metric)
    rounds = values.pop("early_stopping_rounds", None)
    config = TrainingConfig(
        params={},
        num_round=values.pop("num_round"),
        early_stopping_rounds=rounds,
        eval_metrics=[m for m in metrics if m not in CUSTOM_METRICS],
        custom_metrics=[m for m in metrics if m in CUSTOM_METRICS],
        early_stopping_metric=tuning_metric or (metrics[-1] if metrics else None),
        csv_weights=values.pop("csv_weights", 0),
        tuning_objective_metric=tuning,
        save_model_on_termination=values.pop("save_model_on_termination", False),
        notes=notes,
    )
    values.update(passthrough)
    config.params = values
    return config


def maximize(metric: str) -> bool:
    return metric.split("@", 1)[0] in MAXIMIZE_METRICS
