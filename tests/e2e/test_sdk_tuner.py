"""The seed's HyperparameterTuner example, run unmodified with the real SageMaker SDK v2 (apart from
its data, a `metric_definitions` list and small `max_jobs` / `max_parallel_jobs`), once per strategy.
Grid searches categorical and integer ranges (AWS rejects continuous ones for Grid) and passes
`max_jobs` = the grid's size: SDK 2.257 sends `MaxNumberOfTrainingJobs: None` for Grid's documented
default, which botocore rejects on the client before any request is made.

The user script runs as a subprocess under the environment `kiln env` prints; every trial is a real
training job running the user's train.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sdk_project import line, run_user_script, write_project

from conftest import LiveServer

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

TRAIN_PY = """
import argparse, glob, os
import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--batch-size", type=int, default=16)
parser.add_argument("--learning-rate", type=float, default=0.05)
parser.add_argument("--dropout", type=float, default=0.2)
parser.add_argument("--hidden-units", type=int, default=64)
args = parser.parse_args()

data = np.concatenate([np.loadtxt(f, delimiter=",", ndmin=2)
                       for f in glob.glob(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "*.csv"))])
y, x = data[:, 0], data[:, 1:]
rng = np.random.default_rng(args.hidden_units)
w = np.zeros(x.shape[1])
split = int(0.8 * len(x))
for epoch in range(args.epochs):
    for i in range(0, split, args.batch_size):
        xb, yb = x[i:i + args.batch_size], y[i:i + args.batch_size]
        keep = rng.random(w.shape) > args.dropout
        p = 1 / (1 + np.exp(-(xb @ (w * keep))))
        w -= args.learning_rate * xb.T @ (p - yb) / len(xb)
    acc = float(np.mean(((x[split:] @ w) > 0) == (y[split:] > 0.5)))
    print(f"epoch={epoch} validation:accuracy={acc:.4f}", flush=True)
np.save(os.path.join(os.environ["SM_MODEL_DIR"], "w.npy"), w)
"""

SEED_TUNER = """
import json
import sagemaker
from sagemaker.pytorch import PyTorch
from sagemaker.tuner import (
HyperparameterTuner, ContinuousParameter, IntegerParameter, CategoricalParameter
)
sess = sagemaker.Session()
role = sagemaker.get_execution_role()
bucket = sess.default_bucket()
sess.upload_data("data/train.csv", bucket, "data/train")
estimator = PyTorch(
entry_point="train.py",
source_dir="./src",
role=role,
instance_type="ml.p3.2xlarge",
instance_count=1,
framework_version="2.1",
py_version="py310",
hyperparameters={
"epochs": 30,
"batch-size": 64,
"learning-rate": 0.001,
},
output_path=f"s3://{bucket}/models/",
environment={"WANDB_DISABLED": "true"},
)
tuner = HyperparameterTuner(
estimator=estimator,
objective_metric_name="validation:accuracy",
objective_type="Maximize",
hyperparameter_ranges=HYPERPARAMETER_RANGES,
metric_definitions=[{"Name": "validation:accuracy", "Regex": "validation:accuracy=([0-9.]+)"}],
max_jobs=MAX_JOBS,
max_parallel_jobs=2,
strategy=STRATEGY, # or "Random", "Grid", "Hyperband"
)
tuner.fit({"train": f"s3://{bucket}/data/train/"})
tuner.wait()
# Get the best training job
best = tuner.best_training_job()
print(f"Best job: {best}")
df = tuner.analytics().dataframe()
print("DATAFRAME", df.to_json(orient="records"))
print("TUNING_JOB", tuner.latest_tuning_job.name)
"""

SEED_RANGES = """{
"learning-rate": ContinuousParameter(1e-4, 1e-1, scaling_type="Logarithmic"),
"batch-size": CategoricalParameter([32, 64, 128]),
"dropout": ContinuousParameter(0.1, 0.5),
"hidden-units": IntegerParameter(64, 512),
}"""
GRID_RANGES = """{
"batch-size": CategoricalParameter([32, 64]),
"hidden-units": IntegerParameter(64, 65),
}"""


def _script(strategy: str) -> str:
    grid = strategy == "Grid"
    return (SEED_TUNER.replace("HYPERPARAMETER_RANGES", GRID_RANGES if grid else SEED_RANGES)
            .replace("MAX_JOBS", "4").replace("STRATEGY", repr(strategy)))


@pytest.fixture
def kiln_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server per run: the SDK names tuning jobs `<base>-YYMMDD-HHMM`, so two runs in the same minute
    would collide on one server (as they would on AWS)."""
    server = LiveServer(tmp_path_factory.mktemp("kiln-tuner")).start()
    yield server
    server.stop()


@pytest.mark.parametrize("strategy", ["Bayesian", "Grid", "Hyperband"])
def test_seed_tuner_example(kiln_server: Any, tmp_path: Path, strategy: str) -> None:
    proj = write_project(tmp_path, {"train.py": TRAIN_PY}, rows=400, noise=0.3)
    (proj / "user_script.py").write_text(_script(strategy))
    proc = subprocess.Popen([sys.executable, "user_script.py"], cwd=proj, env=kiln_server.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        jobs = kiln_server.client("sagemaker").list_training_jobs(MaxResults=100)["TrainingJobSummaries"]
        raise AssertionError(f"tuner script timed out; jobs: {jobs}\n{stdout[-3000:]}\n{stderr[-3000:]}") from None
    out = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    name = next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("TUNING_JOB"))
    rows = json.loads(next(line.split(" ", 1)[1] for line in out.stdout.splitlines() if line.startswith("DATAFRAME")))
    best = next(line.split(": ", 1)[1] for line in out.stdout.splitlines() if line.startswith("Best job: "))
    sm = kiln_server.client("sagemaker")
    desc = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert desc["HyperParameterTuningJobConfig"]["Strategy"] == strategy
    assert len(rows) == 4 and all(r["TrainingJobName"].startswith(f"{name}-00") for r in rows)
    scores = [r["FinalObjectiveValue"] for r in rows if r["FinalObjectiveValue"] is not None]
    assert best == desc["BestTrainingJob"]["TrainingJobName"]
    assert desc["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == max(scores)
    starts = sorted((r["TrainingStartTime"], r["TrainingEndTime"]) for r in rows)
    for i, (start, _) in enumerate(starts):  # never more than max_parallel_jobs=2 at once
        assert sum(1 for s, e in starts[:i] if e > start) <= 1
    job = sm.describe_training_job(TrainingJobName=best)
    assert job["TuningJobArn"] == desc["HyperParameterTuningJobArn"]
    assert job["HyperParameters"]["batch-size"] in ('"32"', '"64"', '"128"')  # the SDK JSON-quotes categoricals
    if strategy == "Bayesian":
        assert {"learning-rate", "batch-size", "dropout", "hidden-units"} <= set(rows[0])


INFERENCE_PY = """
import json, os
import numpy as np

def model_fn(model_dir):
    return np.load(os.path.join(model_dir, "w.npy"))

def input_fn(body, content_type):
    return np.array(json.loads(body)["inputs"], dtype=float)

def predict_fn(data, w):
    return 1 / (1 + np.exp(-(data @ w)))

def output_fn(prediction, accept):
    return json.dumps({"predictions": [round(float(p), 4) for p in prediction]}), "application/json"
"""

DEPLOY = """
predictor = tuner.deploy(
initial_instance_count=1,
instance_type="ml.m5.large",
serializer=sagemaker.serializers.JSONSerializer(),
deserializer=sagemaker.deserializers.JSONDeserializer(),
entry_point="inference.py",
)
print("PREDICT", json.dumps(predictor.predict({"inputs": [[1.2, -3.4, 0.5, 2.0]]})))
predictor.delete_model()
predictor.delete_endpoint()
"""


def test_tuner_deploys_the_best_job(kiln_server: Any, tmp_path: Path) -> None:
    """`tuner.deploy(...)`: the SDK attaches the best training job and deploys it (hosting)."""
    script = (_script("Random").replace("max_jobs=4", "max_jobs=2")
              .replace('print("TUNING_JOB"', DEPLOY + 'print("TUNING_JOB"'))
    proj = write_project(tmp_path, {"train.py": TRAIN_PY, "inference.py": INFERENCE_PY}, rows=400, noise=0.3)
    stdout = run_user_script(kiln_server, proj, script, timeout=600)
    prediction = json.loads(line(stdout, "PREDICT"))
    assert len(prediction["predictions"]) == 1 and 0.0 <= prediction["predictions"][0] <= 1.0
