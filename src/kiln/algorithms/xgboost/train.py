"""`train`: SageMaker's built-in XGBoost algorithm (algorithm mode) on real XGBoost.

Reads the training contract (hyperparameters.json, inputdataconfig.json, resourceconfig.json, channels
`train` and optional `validation`), trains with `xgboost.train`, prints one evaluation line per round in
the format the built-in metric definitions match, and saves the booster as /opt/ml/model/xgboost-model.

Model file: SageMaker's 1.7-1 container calls `booster.save_model(".../xgboost-model")`; XGBoost 1.7
writes its legacy binary format for a name without extension. Kiln runs XGBoost 2+, whose format for
that call is UBJSON, which `xgb.Booster().load_model(path)` reads in XGBoost 1.6 and later.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

import xgboost as xgb

from kiln.algorithms.xgboost import checkpoints, data
from kiln.algorithms.xgboost import hyperparameters as hpv
from kiln.algorithms.xgboost.custom_metrics import custom_metric
from kiln.algorithms.xgboost.environment import TrainingEnvironment, load_environment, opt_ml_root
from kiln.algorithms.xgboost.errors import AlgorithmRunError, ClientError, write_failure
from kiln.algorithms.xgboost.metrics import format_evaluation

log = logging.getLogger("kiln.algorithms.xgboost")

MODEL_NAME = "xgboost-model"
CHANNELS = ("train", "validation")
CHECKPOINT_INTERVAL_ENV = "KILN_XGBOOST_CHECKPOINT_INTERVAL"
_XGB_PREFIX = re.compile(r"^\[[0-9:]+\] \S+:[0-9]+: ")


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(asctime)s:%(levelname)s] %(message)s", "%Y-%m-%d:%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


class PrintEvaluation(xgb.callback.TrainingCallback):
    """Print `[round]#011train-metric:value#011validation-metric:value` after every round, flushed."""

    def __init__(self, start_round: int) -> None:
        super().__init__()
        self.start_round = start_round

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        if evals_log:
            print(format_evaluation(self.start_round + epoch, evals_log), flush=True)
        return False


class SaveModelEachRound(xgb.callback.TrainingCallback):
    """save_model_on_termination=true: keep /opt/ml/model/xgboost-model current, and on SIGTERM exit 0
    with it in place (what the SageMaker container does for a stopped job)."""

    def __init__(self, model_path: Path) -> None:
        super().__init__()
        self.model_path = model_path
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, _signo: int, _frame: Any) -> None:
        for leftover in self.model_path.parent.glob(f".{MODEL_NAME}.*"):
            leftover.unlink(missing_ok=True)
        log.info("SIGTERM received: stopping with the model of the last finished round.")
        os._exit(0)

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        checkpoints.save_atomically(model, self.model_path)
        return False


def _channel_source(env: TrainingEnvironment, channel: str) -> Path:
    if env.channel_mode(channel) == "Pipe":
        fifo = env.root / "input" / "data" / f"{channel}_0"
        if fifo.exists():
            return fifo
    return env.channel_path(channel)


def _check_channels(env: TrainingEnvironment) -> None:
    for name in env.input_data_config:
        if name not in CHANNELS:
            raise ClientError(f"Extraneous channel found: {name}. The XGBoost algorithm takes the channels "
                              "'train' (required) and 'validation'.")
    if not env.has_channel("train"):
        raise ClientError("Missing required channel: train")


def load_data(env: TrainingEnvironment, config: hpv.TrainingConfig) -> tuple[Any, Any]:
    """(train DMatrix, validation DMatrix or None)."""
    _check_channels(env)
    train_type = env.content_type("train")
    train_fmt = data.parse_content_type(train_type)
    train_path = _channel_source(env, "train")
    train = data.load(train_path, train_fmt, csv_weights=config.csv_weights, channel="train")
    if train is None:
        raise ClientError(f"No data in training channel path {env.channel_path('train')}")
    validation = None
    if env.has_channel("validation"):
        val_fmt = data.parse_content_type(env.content_type("validation") or train_type)
        validation = data.load(_channel_source(env, "validation"), val_fmt, csv_weights=config.csv_weights,
                               channel="validation")
        if validation is None:
            raise ClientError(f"No data in validation channel path {env.channel_path('validation')}")
        width = max(train.num_features, validation.num_features)
        train.widen(width)
        validation.widen(width)
        if train.num_features != validation.num_features:
            raise ClientError(f"Validation data has {validation.num_features} features, training data has "
                              f"{train.num_features}")
    nthread = config.params.get("nthread") or env.num_cpus
    log.info("Train matrix has %d rows and %d columns", train.num_rows, train.num_features)
    if validation is not None:
        log.info("Validation matrix has %d rows", validation.num_rows)
    return train.to_dmatrix(nthread), validation.to_dmatrix(nthread) if validation is not None else None


def xgb_params(env: TrainingEnvironment, config: hpv.TrainingConfig) -> dict[str, Any]:
    params = dict(config.params)
    if config.eval_metrics:
        params["eval_metric"] = list(config.eval_metrics)
    if params.get("tree_method") == "gpu_hist":
        params["tree_method"] = "hist"
        if env.num_gpus > 0:
            params.setdefault("device", "cuda")
        else:
            log.warning("tree_method gpu_hist asked for, but this host has no GPU: training on the CPU.")
    if "nthread" not in params and env.num_cpus:
        params["nthread"] = env.num_cpus
    return params


def _callbacks(env: TrainingEnvironment, config: hpv.TrainingConfig, start: int,
               has_validation: bool) -> list[Any]:
    """Savers first, then the printer (a printed round is a saved round), then early stopping: XGBoost
    stops calling callbacks for a round once one of them asks to stop."""
    callbacks: list[Any] = []
    if env.checkpoint_dir is not None:
        interval = int(os.environ.get(CHECKPOINT_INTERVAL_ENV) or 1)
        callbacks.append(checkpoints.SaveCheckpoint(env.checkpoint_dir, start_round=start,
                                                    num_round=config.num_round, interval=interval))
    if config.save_model_on_termination:
        callbacks.append(SaveModelEachRound(env.model_dir / MODEL_NAME))
    callbacks.append(PrintEvaluation(start))
    if config.early_stopping_rounds:
        if not has_validation:
            log.warning("early_stopping_rounds needs a validation channel; training all %d rounds.",
                        config.num_round)
        else:
            metric = config.early_stopping_metric
            callbacks.append(xgb.callback.EarlyStopping(
                rounds=config.early_stopping_rounds, data_name="validation", metric_name=metric,
                maximize=hpv.maximize(metric) if metric else None,
                save_best=config.params.get("booster") != "gblinear"))
    return callbacks


def _xgboost_message(error: Exception) -> str:
    """XGBoost's message without its timestamp, source location and stack trace."""
    text = str(error).split("Stack trace:", 1)[0].strip()
    last = text.splitlines()[-1] if text else type(error).__name__
    return _XGB_PREFIX.sub("", last)


def train_job(env: TrainingEnvironment) -> None:
    log.info("Running Kiln's built-in XGBoost algorithm (xgboost %s) in algorithm mode", xgb.__version__)
    config = hpv.validate(env.hyperparameters)
    for note in config.notes:
        log.warning(note)
    if len(env.hosts) > 1:
        if env.current_host != env.hosts[0]:
            log.warning("Distributed XGBoost training is not supported by Kiln: %s trains on its own data "
                        "shard; %s has nothing to do.", env.hosts[0], env.current_host)
            return
        log.warning("Distributed XGBoost training is not supported by Kiln: training on %s's data shard "
                    "only (%d hosts requested).", env.current_host, len(env.hosts))
    dtrain, dval = load_data(env, config)
    params = xgb_params(env, config)
    booster, done = checkpoints.load_latest(env.checkpoint_dir)
    if booster is not None:
        log.info("Checkpoint loaded from %s; resuming from round %d", env.checkpoint_dir, done)
    remaining = max(0, config.num_round - done)
    watchlist = [(dtrain, "train")] + ([(dval, "validation")] if dval is not None else [])
    metric_fn = (custom_metric(config.custom_metrics, config.objective, params.get("num_class"))
                 if config.custom_metrics else None)
    if remaining == 0 and booster is not None:
        log.info("The checkpoint already holds all %d rounds.", config.num_round)
    else:
        try:
            callbacks = _callbacks(env, config, done, dval is not None)
            booster = xgb.train(params, dtrain, num_boost_round=remaining, evals=watchlist,
                                custom_metric=metric_fn, callbacks=callbacks, xgb_model=booster,
                                verbose_eval=False)
        except xgb.core.XGBoostError as e:
            raise ClientError(f"XGBoost training failed: {_xgboost_message(e)}") from None
    model_path = env.model_dir / MODEL_NAME
    checkpoints.save_atomically(booster, model_path)
    log.info("Stored trained model at %s", model_path)


def main(argv: list[str] | None = None) -> int:
    """Run the training job; 0 on success, non-zero with /opt/ml/output/failure written otherwise."""
    _setup_logging()
    output_dir = opt_ml_root() / "output"
    try:
        env = load_environment()
        output_dir = env.output_dir
        train_job(env)
        return 0
    except AlgorithmRunError as e:
        log.error("%s", e.failure_reason())
        write_failure(output_dir, e.failure_reason())
        return e.exit_code
    except Exception as e:
        log.error("Algorithm failed:\n%s", traceback.format_exc())
        write_failure(output_dir, f"AlgorithmError: {type(e).__name__}: {e}")
        return 2
