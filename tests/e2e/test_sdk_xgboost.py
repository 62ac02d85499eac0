"""Built-in XGBoost in algorithm mode through the SDK's generic Estimator (reference flow d)."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

SCRIPT = """
import boto3
import sagemaker
from sagemaker import image_uris
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput

sess = sagemaker.Session()
role = sagemaker.get_execution_role()
bucket = sess.default_bucket()
train = sess.upload_data("train.csv", bucket, "xgb/train")
val = sess.upload_data("validation.csv", bucket, "xgb/validation")
xgb = Estimator(
    image_uri=image_uris.retrieve("xgboost", sess.boto_region_name, "1.7-1"),
    role=role,
    instance_count=1,
    instance_type="ml.m5.xlarge",
    output_path=f"s3://{bucket}/xgb/output",
)
xgb.set_hyperparameters(objective="reg:squarederror", num_round=40, max_depth=4, eta=0.3, eval_metric="rmse")
xgb.fit({"train": TrainingInput(train, content_type="text/csv"),
         "validation": TrainingInput(val, content_type="text/csv")})
desc = boto3.client("sagemaker").describe_training_job(TrainingJobName=xgb.latest_training_job.name)
metrics = {m["MetricName"]: m["Value"] for m in desc["FinalMetricDataList"]}
print("METRICS", metrics)
print("MODEL", xgb.model_data)
"""


def test_generic_estimator_builtin_xgboost(kiln_server: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for name, n in (("train", 2000), ("validation", 500)):
        x = rng.normal(size=(n, 5))
        y = 3 * x[:, 0] - 2 * x[:, 1] + x[:, 2] * x[:, 3] + rng.normal(scale=0.1, size=n)
        np.savetxt(tmp_path / f"{name}.csv", np.column_stack([y, x]), delimiter=",", fmt="%.5f")
    (tmp_path / "user_script.py").write_text(textwrap.dedent(SCRIPT))
    out = subprocess.run([sys.executable, "user_script.py"], cwd=tmp_path, env=kiln_server.env(), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "#011validation-rmse:" in out.stdout  # the built-in's evaluation lines, streamed by the SDK
    metrics = ast.literal_eval(next(line for line in out.stdout.splitlines() if line.startswith("METRICS"))[8:])
    assert metrics["validation:rmse"] < 1.0 and metrics["train:rmse"] < metrics["validation:rmse"] + 0.5
    model = next(line for line in out.stdout.splitlines() if line.startswith("MODEL")).split()[1]
    assert model.endswith("/output/model.tar.gz") and "/xgb/output/sagemaker-xgboost-" in model
