"""SageMaker's built-in XGBoost algorithm (algorithm mode): `python -m kiln.algorithms.xgboost train`
run as a subprocess against a temporary /opt/ml tree (KILN_OPT_ML), on small synthetic data."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

np = pytest.importorskip("numpy")
xgb = pytest.importorskip("xgboost")

from kiln.algorithms.xgboost import hyperparameters as hpv  # noqa: E402
from kiln.algorithms.xgboost.errors import ClientError  # noqa: E402
from kiln.algorithms.xgboost.metrics import (  # noqa: E402
    METRIC_DEFINITIONS,
    metric_direction,
    objective_metric_names,
)

REPO = Path(__file__).resolve().parents[2]
EVAL_LINE = re.compile(r"^\[(\d+)\]#011")


# ---- helpers ---------------------------------------------------------------------------------------


def regression(n: int, seed: int = 0, features: int = 5) -> Any:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    y = 3 * x[:, 0] - 2 * x[:, 1] + 0.5 * x[:, 2] ** 2 + rng.normal(scale=0.1, size=n)
    return x, y


def classification(n: int, seed: int = 0, features: int = 5) -> Any:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    y = (x[:, 0] + 0.5 * x[:, 1] - 0.25 * x[:, 2] > 0).astype(float)
    return x, y


def write_csv(path: Path, x: Any, y: Any, weights: Any = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = [y] + ([weights] if weights is not None else []) + [x]
    np.savetxt(path, np.column_stack(cols), delimiter=",", fmt="%.6g")


def write_libsvm(path: Path, x: Any, y: Any, qid: Any = None, weights: Any = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (row, label) in enumerate(zip(x, y, strict=True)):
        head = f"{label:g}" + (f":{weights[i]:g}" if weights is not None else "")
        if qid is not None:
            head += f" qid:{qid[i]}"
        feats = " ".join(f"{j}:{v:.6g}" for j, v in enumerate(row) if v != 0)
        lines.append(f"{head} {feats}")
    path.write_text("\n".join(lines) + "\n")


def write_parquet(path: Path, x: Any, y: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    columns = {"target": y, **{f"f{i}": x[:, i] for i in range(x.shape[1])}}
    pq.write_table(pa.table(columns), path)


def opt_ml(tmp_path: Path, hps: dict[str, Any], channels: dict[str, str | None],
           resource: dict[str, Any] | None = None, modes: dict[str, str] | None = None) -> Path:
    root = tmp_path / "opt_ml"
    config = root / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps({k: str(v) for k, v in hps.items()}))
    data_config = {}
    for name, content_type in channels.items():
        entry: dict[str, str] = {"TrainingInputMode": (modes or {}).get(name, "File"),
                                 "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
        if content_type is not None:
            entry["ContentType"] = content_type
        data_config[name] = entry
    (config / "inputdataconfig.json").write_text(json.dumps(data_config))
    rc = resource or {"current_host": "algo-1", "hosts": ["algo-1"]}
    (config / "resourceconfig.json").write_text(json.dumps(rc))
    (root / "model").mkdir(exist_ok=True)
    (root / "output").mkdir(exist_ok=True)
    return root


def train(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "KILN_"))}
    full_env.update({"KILN_OPT_ML": str(root), "PYTHONPATH": str(REPO / "src"), **env})
    return subprocess.run([sys.executable, "-m", "kiln.algorithms.xgboost", "train"], env=full_env,
                          capture_output=True, text=True, timeout=300, check=False)


def load_model(root: Path) -> Any:
    booster = xgb.Booster()
    booster.load_model(bytearray((root / "model" / "xgboost-model").read_bytes()))
    return booster


def eval_lines(stdout: str) -> list[str]:
    return [ln for ln in stdout.splitlines() if EVAL_LINE.match(ln)]


def metric_values(stdout: str, name: str) -> list[float]:
    regex = next(d["Regex"] for d in METRIC_DEFINITIONS if d["Name"] == name)
    return [float(m.group(1)) for ln in stdout.splitlines() if (m := re.match(regex, ln))]


def failure(root: Path) -> str:
    return (root / "output" / "failure").read_text()


# ---- training runs ---------------------------------------------------------------------------------


def test_csv_regression_trains_saves_and_logs_metrics(tmp_path: Path) -> None:
    x, y = regression(2000)
    xv, yv = regression(500, seed=1)
    root = opt_ml(tmp_path, {"num_round": 20, "max_depth": 4, "eta": "0.3"},
                  {"train": "text/csv", "validation": "text/csv"})
    write_csv(root / "input/data/train/part-0.csv", x[:1000], y[:1000])
    write_csv(root / "input/data/train/nested/part-1.csv", x[1000:], y[1000:])  # read recursively
    write_csv(root / "input/data/validation/val.csv", xv, yv)
    (root / "input/data/train/_SUCCESS").write_text("")  # skipped like the container does
    proc = train(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (root / "output" / "failure").exists()

    lines = eval_lines(proc.stdout)
    assert [int(EVAL_LINE.match(ln).group(1)) for ln in lines] == list(range(20))
    assert "\t" not in "".join(lines)
    train_rmse = metric_values(proc.stdout, "train:rmse")
    val_rmse = metric_values(proc.stdout, "validation:rmse")
    assert len(train_rmse) == len(val_rmse) == 20
    assert val_rmse[-1] < val_rmse[0] / 3

    booster = load_model(root)
    assert booster.num_boosted_rounds() == 20
    pred = booster.predict(xgb.DMatrix(xv))
    rmse = float(np.sqrt(np.mean((pred - yv) ** 2)))
    assert rmse < 0.25 * float(np.std(yv))
    assert abs(rmse - val_rmse[-1]) < 1e-3


def test_csv_binary_classification_with_tuning_objective_and_custom_metric(tmp_path: Path) -> None:
    x, y = classification(1500)
    xv, yv = classification(500, seed=1)
    root = opt_ml(tmp_path, {"num_round": 15, "objective": "binary:logistic", "eval_metric": "logloss,accuracy",
                             "_tuning_objective_metric": "validation:auc", "sagemaker_region": "us-east-1"},
                  {"train": "text/csv; label_size=1", "validation": "text/csv"})
    write_csv(root / "input/data/train/train.csv", x, y)
    write_csv(root / "input/data/validation/validation.csv", xv, yv)
    proc = train(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    auc = metric_values(proc.stdout, "validation:auc")
    acc = metric_values(proc.stdout, "validation:accuracy")
    assert len(auc) == len(acc) == 15 and len(metric_values(proc.stdout, "validation:logloss")) == 15
    assert auc[-1] > 0.95 and 0.85 < acc[-1] <= 1.0
    assert metric_values(proc.stdout, "validation:error") == []  # `error` must not match `merror` etc.
    prob = load_model(root).predict(xgb.DMatrix(xv))
    assert ((prob >= 0) & (prob <= 1)).all()
    assert float(np.mean((prob > 0.5) == yv)) == pytest.approx(acc[-1], abs=1e-4)


def test_libsvm_default_content_type_with_weights(tmp_path: Path) -> None:
    x, y = classification(1200)
    x[np.abs(x) < 0.3] = 0.0  # sparse rows
    weights = np.where(y > 0, 2.0, 1.0)
    root = opt_ml(tmp_path, {"num_round": 10, "objective": "binary:logistic", "eval_metric": "error"},
                  {"train": None, "validation": "text/libsvm"})  # no ContentType: libsvm, as SageMaker
    write_libsvm(root / "input/data/train/train.libsvm", x[:1000], y[:1000], weights=weights[:1000])
    write_libsvm(root / "input/data/validation/val.libsvm", x[1000:], y[1000:])
    proc = train(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    err = metric_values(proc.stdout, "validation:error")
    assert len(err) == 10 and err[-1] < 0.15
    assert load_model(root).num_features() == 5


def test_libsvm_ranking_with_qid(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 4))
    y = (x[:, 0] + 0.3 * x[:, 1] > 0).astype(float)  # MAP needs binary relevance
    qid = np.repeat(np.arange(60), 10)
    root = opt_ml(tmp_path, {"num_round": 5, "objective": "rank:pairwise", "eval_metric": "ndcg,map"},
                  {"train": "libsvm", "validation": "libsvm"})
    write_libsvm(root / "input/data/train/t.libsvm", x[:500], y[:500], qid=qid[:500])
    write_libsvm(root / "input/data/validation/v.libsvm", x[500:], y[500:], qid=qid[500:])
    proc = train(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ndcg = metric_values(proc.stdout, "validation:ndcg")
    assert len(ndcg) == 5 and ndcg[-1] > 0.8
    assert len(metric_values(proc.stdout, "validation:map")) == 5


def test_parquet_regression_label_in_first_column(tmp_path: Path) -> None:
    x, y = regression(1500)
    root = opt_ml(tmp_path, {"num_round": 10, "eval_metric": "mae,rmse"}, {"train": "application/x-parquet"})
    write_parquet(root / "input/data/train/a.parquet", x[:700], y[:700])
    write_parquet(root / "input/data/train/b.parquet", x[700:], y[700:])
    proc = train(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(metric_values(proc.stdout, "train:mae")) == 10
    assert metric_values(proc.stdout, "validation:rmse") == []
    pred = load_model(root).predict(xgb.DMatrix(x))
    assert float(np.corrcoef(pred, y)[0, 1]) > 0.95


def test_multiclass_softprob(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(900, 4))
    y = np.digitize(x[:, 0] + 0.3 * x[:, 1], [-0.5, 0.5]).astype(float)
    root = opt_ml(tmp_path, {"num_round": 10, "objective": "multi:softprob", "num_class": 3,
                             "eval_metric": "merror,mlogloss,f1"}, {"train": "csv", "validation": "csv"})
    write_csv(root / "input/data/train/t.csv", x[:700], y[:700])
    write_csv(root / "input/data/validation/v.csv", x[700:], y[700:])
    proc = train(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert metric_values(proc.stdout, "validation:merror")[-1] < 0.2
    assert metric_values(proc.stdout, "validation:f1")[-1] > 0.8
    prob = load_model(root).predict(xgb.DMatrix(x[700:]))
    assert prob.shape == (200, 3)


def test_early_stopping_keeps_best_model(tmp_path: Path) -> None:
    x, y = regression(800)
    xv, _ = regression(300, seed=2)
    noise = np.random.default_rng(9).normal(scale=5.0, size=300)  # validation labels unrelated to x
    root = opt_ml(tmp_path, {"num_round": 200, "eta": "0.5", "early_stopping_rounds": 3},
                  {"train": "text/csv", "validation": "text/csv"})
    write_csv(root / "input/data/train/t.csv", x, y)
    write_csv(root / "input/data/validation/v.csv", xv, noise)
    proc = train(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    printed = len(eval_lines(proc.stdout))
    assert printed < 200
    assert load_model(root).num_boosted_rounds() <= printed - 3


def test_pipe_mode_reads_the_fifo(tmp_path: Path) -> None:
    x, y = regression(400)
    root = opt_ml(tmp_path, {"num_round": 3}, {"train": "text/csv"}, modes={"train": "Pipe"})
    source = tmp_path / "pipe.csv"
    write_csv(source, x, y)
    fifo = root / "input" / "data" / "train_0"
    fifo.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as fh:
            fh.write(source.read_bytes())

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    proc = train(root)
    feeder.join(timeout=10)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Train matrix has 400 rows" in proc.stdout


# ---- checkpoints -----------------------------------------------------------------------------------


def test_checkpoints_saved_and_resumed(tmp_path: Path) -> None:
    x, y = regression(1000)
    hps = {"num_round": 4, "max_depth": 3}
    root = opt_ml(tmp_path, hps, {"train": "text/csv"})
    write_csv(root / "input/data/train/t.csv", x, y)
    checkpoints = root / "checkpoints"
    checkpoints.mkdir()

    first = train(root)  # an "interrupted" job: 4 of 10 rounds done
    assert first.returncode == 0, first.stdout + first.stderr
    assert sorted(p.name for p in checkpoints.iterdir()) == [f"xgboost-checkpoint.{i}" for i in range(4)]

    (root / "input/config/hyperparameters.json").write_text(json.dumps({"num_round": "10", "max_depth": "3"}))
    (root / "model" / "xgboost-model").unlink()
    resumed = train(root)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming from round 4" in resumed.stdout
    assert [int(EVAL_LINE.match(ln).group(1)) for ln in eval_lines(resumed.stdout)] == list(range(4, 10))
    names = sorted(p.name for p in checkpoints.iterdir())
    assert names == [f"xgboost-checkpoint.{i}" for i in range(5, 10)]  # newest 5 kept
    model = load_model(root)
    assert model.num_boosted_rounds() == 10

    straight_root = opt_ml(tmp_path / "straight", {"num_round": 10, "max_depth": 3}, {"train": "text/csv"})
    write_csv(straight_root / "input/data/train/t.csv", x, y)
    straight = train(straight_root)
    assert straight.returncode == 0
    d = xgb.DMatrix(x)
    np.testing.assert_allclose(model.predict(d), load_model(straight_root).predict(d), rtol=1e-5, atol=1e-5)


def test_checkpoint_dir_from_checkpointconfig(tmp_path: Path) -> None:
    x, y = regression(300)
    root = opt_ml(tmp_path, {"num_round": 2}, {"train": "text/csv"})
    write_csv(root / "input/data/train/t.csv", x, y)
    (root / "input/config/checkpointconfig.json").write_text(
        json.dumps({"LocalPath": "/opt/ml/spot", "S3Uri": "s3://b/ck"}))
    proc = train(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (root / "spot" / "xgboost-checkpoint.1").is_file()


def test_save_model_on_termination_keeps_model_at_sigterm(tmp_path: Path) -> None:
    import signal

    x, y = regression(2000)
    root = opt_ml(tmp_path, {"num_round": 100000, "save_model_on_termination": "true"}, {"train": "text/csv"})
    write_csv(root / "input/data/train/t.csv", x, y)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "KILN_"))}
    env.update({"KILN_OPT_ML": str(root), "PYTHONPATH": str(REPO / "src")})
    proc = subprocess.Popen([sys.executable, "-m", "kiln.algorithms.xgboost", "train"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        seen = 0
        for line in proc.stdout:
            seen += bool(EVAL_LINE.match(line))
            if seen >= 3:
                break
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    model = load_model(root)
    assert 3 <= model.num_boosted_rounds() < 100000
    assert [p.name for p in (root / "model").iterdir()] == ["xgboost-model"]


# ---- failures --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("hps", "needle"), [
    ({"num_round": 5, "eta": "abc"}, "Hyperparameter eta: value 'abc' is not a float"),
    ({"num_round": 5, "eta": "1.5"}, "Hyperparameter eta: value 1.5 is not in [0, 1]"),
    ({"num_round": "0"}, "Hyperparameter num_round: value 0 is not in [1, +inf)"),
    ({"eta": "0.1"}, "Missing required hyperparameter: num_round"),
    ({"num_round": 5, "max_depth": "2.5"}, "Hyperparameter max_depth: value '2.5' is not an integer"),
    ({"num_round": 5, "not_a_param": "1"}, "Extraneous hyperparameter found: not_a_param"),
    ({"num_round": 5, "objective": "multi:softmax"}, "num_class"),
    ({"num_round": 5, "objective": "reg:nope"}, "Hyperparameter objective: value 'reg:nope' is not one of"),
    ({"num_round": 5, "eval_metric": "rmse,bogus"}, "eval_metric: value 'bogus'"),
])
def test_bad_hyperparameters_fail_with_client_error(tmp_path: Path, hps: dict[str, Any], needle: str) -> None:
    x, y = regression(50)
    root = opt_ml(tmp_path, hps, {"train": "text/csv"})
    write_csv(root / "input/data/train/t.csv", x, y)
    proc = train(root)
    assert proc.returncode == 1
    reason = failure(root)
    assert reason.startswith("ClientError: ") and needle in reason, reason
    assert not (root / "model" / "xgboost-model").exists()


@pytest.mark.parametrize(("channels", "files", "needle"), [
    ({"validation": "text/csv"}, {}, "Missing required channel: train"),
    ({"train": "text/csv"}, {}, "No data in training channel path"),
    ({"train": "text/csv", "validation": "text/csv"}, {"train/t.csv": "1,2\n0,3\n"}, "No data in validation"),
    ({"train": "application/json"}, {"train/t.json": "{}"}, "is not an accepted ContentType"),
    ({"train": "text/csv; label_size=2"}, {"train/t.csv": "1,2\n"}, "label_size must be equal to 1"),
    ({"train": "application/x-recordio-protobuf"}, {"train/t.rec": "x"}, "recordio-protobuf is not supported"),
    ({"train": "text/csv"}, {"train/t.csv": "label,a\n1,2\n"}, "Failed to load csv data"),
    ({"train": "text/csv", "test": "text/csv"}, {"train/t.csv": "1,2\n"}, "Extraneous channel found: test"),
])
def test_bad_channels_fail_with_client_error(tmp_path: Path, channels: dict[str, str], files: dict[str, str],
                                             needle: str) -> None:
    root = opt_ml(tmp_path, {"num_round": 2}, channels)
    for rel, text in files.items():
        path = root / "input" / "data" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for name in channels:
        (root / "input" / "data" / name).mkdir(parents=True, exist_ok=True)
    proc = train(root)
    assert proc.returncode == 1, proc.stdout
    assert needle in failure(root)


def test_label_out_of_range_is_a_client_error(tmp_path: Path) -> None:
    x, _ = classification(100)
    root = opt_ml(tmp_path, {"num_round": 2, "objective": "binary:logistic"}, {"train": "text/csv"})
    write_csv(root / "input/data/train/t.csv", x, np.full(100, 3.0))
    proc = train(root)
    assert proc.returncode == 1
    reason = failure(root)
    assert reason.startswith("ClientError: XGBoost training failed:") and "Stack trace" not in reason


# ---- hosts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("current", ["algo-1", "algo-2"])
def test_multiple_hosts_train_on_algo_1_only(tmp_path: Path, current: str) -> None:
    x, y = regression(200)
    root = opt_ml(tmp_path, {"num_round": 2}, {"train": "text/csv"},
                  resource={"current_host": current, "hosts": ["algo-1", "algo-2"]})
    write_csv(root / "input/data/train/t.csv", x, y)
    proc = train(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Distributed XGBoost training is not supported by Kiln" in proc.stdout
    assert (root / "model" / "xgboost-model").exists() == (current == "algo-1")


# ---- in-process units ------------------------------------------------------------------------------


def test_metric_definitions_match_sagemaker_lines() -> None:
    names = objective_metric_names()
    for required in ("train:rmse", "validation:rmse", "validation:auc", "validation:logloss", "validation:error",
                     "validation:mae", "validation:merror", "validation:mlogloss", "validation:aucpr",
                     "validation:ndcg", "validation:map", "validation:accuracy", "validation:f1",
                     "validation:mse", "train:auc"):
        assert required in names
    regex = {d["Name"]: d["Regex"] for d in METRIC_DEFINITIONS}
    line = "[12]#011train-rmse:0.58163#011validation-rmse:1.2e-05#011validation-mape:0.5"
    assert re.match(regex["train:rmse"], line).group(1) == "0.58163"
    assert re.match(regex["validation:rmse"], line).group(1) == "1.2e-05"
    assert re.match(regex["validation:map"], line) is None
    assert re.match(regex["validation:error"], "[1]#011validation-merror:0.1") is None
    assert metric_direction("validation:auc") == "Maximize"
    assert metric_direction("validation:rmse") == "Minimize"
    assert metric_direction("ndcg@5") == "Maximize"


def test_metrics_module_needs_no_third_party_packages() -> None:
    code = ("import sys\nfor m in ('numpy', 'xgboost', 'sklearn', 'pandas', 'pyarrow'): sys.modules[m] = None\n"
            "from kiln.algorithms.xgboost.metrics import METRIC_DEFINITIONS\nprint(len(METRIC_DEFINITIONS))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO / "src")},
                         capture_output=True, text=True, check=True)
    assert int(out.stdout) == len(METRIC_DEFINITIONS)


def test_validate_aliases_notes_and_passthrough() -> None:
    config = hpv.validate({"num_round": "7", "learning_rate": "0.2", "reg_lambda": "3", "silent": "1",
                           "max_cat_to_onehot": "4", "eval_metric": "error@0.7,auc", "objective": "binary:logistic",
                           "_tuning_objective_metric": "validation:f1", "early_stopping_rounds": "5"})
    assert config.num_round == 7
    assert config.params["eta"] == 0.2 and config.params["lambda"] == 3.0
    assert config.params["max_cat_to_onehot"] == "4"
    assert "silent" not in config.params and any("silent" in n for n in config.notes)
    assert config.eval_metrics == ["error@0.7", "auc"] and config.custom_metrics == ["f1"]
    assert config.early_stopping_metric == "f1" and config.early_stopping_rounds == 5
    with pytest.raises(ClientError, match="given twice"):
        hpv.validate({"num_round": "1", "eta": "0.1", "learning_rate": "0.2"})
    with pytest.raises(ClientError, match="auc"):
        hpv.validate({"num_round": "1", "eval_metric": "auc"})
    assert hpv.validate({"num_round": "1", "objective": "reg:linear"}).objective == "reg:squarederror"
    assert hpv.validate({"num_round": "1", "objective": '"binary:logistic"'}).objective == "binary:logistic"
    assert hpv.validate({"num_round": "3", "monotone_constraints": "(1, 0,-1)"}).params[
        "monotone_constraints"] == "(1,0,-1)"


# ---- through the training service ------------------------------------------------------------------

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def _job_request(name: str, bucket: str, hps: dict[str, str]) -> dict[str, Any]:
    channel = {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3DataDistributionType": "FullyReplicated"}},
               "ContentType": "text/csv"}
    return {
        "TrainingJobName": name,
        "RoleArn": "arn:aws:iam::123456789012:role/KilnExecutionRole",
        "AlgorithmSpecification": {"TrainingImage": XGB_IMAGE, "TrainingInputMode": "File"},
        "HyperParameters": hps,
        "InputDataConfig": [
            {**channel, "ChannelName": ch, "DataSource": {"S3DataSource": {
                **channel["DataSource"]["S3DataSource"], "S3Uri": f"s3://{bucket}/xgb/{ch}/"}}}
            for ch in ("train", "validation")],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/out/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
    }


def _wait(sm: Any, name: str, timeout: float = 240) -> dict[str, Any]:
    import time

    deadline = time.time() + timeout
    while True:
        desc = sm.describe_training_job(TrainingJobName=name)
        if desc["TrainingJobStatus"] in ("Completed", "Failed", "Stopped") or time.time() > deadline:
            return desc
        time.sleep(0.25)


@pytest.mark.slow
def test_training_job_with_the_builtin_xgboost_image(aws_client: Any, unique_name: str, tmp_path: Path) -> None:
    import io
    import tarfile

    sm, s3 = aws_client("sagemaker"), aws_client("s3")
    bucket = "kiln-xgboost-builtin"
    s3.create_bucket(Bucket=bucket)
    x, y = regression(600)
    for ch, (xs, ys) in {"train": (x[:500], y[:500]), "validation": (x[500:], y[500:])}.items():
        write_csv(tmp_path / f"{ch}.csv", xs, ys)
        s3.put_object(Bucket=bucket, Key=f"xgb/{ch}/{ch}.csv", Body=(tmp_path / f"{ch}.csv").read_bytes())

    sm.create_training_job(**_job_request(unique_name, bucket, {"num_round": "8", "max_depth": "3"}))
    desc = _wait(sm, unique_name)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    final = {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList", [])}
    assert {"train:rmse", "validation:rmse"} <= set(final)
    body = s3.get_object(Bucket=bucket, Key=f"out/{unique_name}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        raw = tar.extractfile("xgboost-model").read()  # type: ignore[union-attr]
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    assert booster.num_boosted_rounds() == 8

    bad = f"{unique_name}-bad"
    sm.create_training_job(**_job_request(bad, bucket, {"num_round": "8", "eta": "abc"}))
    desc = _wait(sm, bad)
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["FailureReason"].startswith("ClientError: Hyperparameter eta: value 'abc' is not a float")
