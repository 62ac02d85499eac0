"""The training container contract and the job lifecycle rules, without a server."""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import pytest

from kiln.core.errors import InvalidState
from kiln.core.jobs.lifecycle import JobStatus, SecondaryStatus, check_transition
from kiln.execution import contract
from kiln.execution.contract import HostLayout, HostSpec
from kiln.execution.runtimes import UnknownImage, parse_image, resolve


def test_cmd_args_follow_the_toolkit() -> None:
    user, framework = contract.split_hyperparameters(
        {"b": "8", "cfg": '{"a": 1}', "epochs": "2", "use-amp": "true", "name": '"resnet"',
         "sagemaker_program": '"train.py"', "_tuning_objective_metric": "loss"})
    assert contract.to_cmd_args(user) == ["-b", "8", "--cfg", "a=1", "--epochs", "2", "--name", "resnet",
                                          "--use-amp", "True"]
    assert framework == {"sagemaker_program": "train.py", "_tuning_objective_metric": "loss"}


def test_environment_and_files(tmp_path: Path) -> None:
    layout = HostLayout(tmp_path, "/opt/ml")
    spec = HostSpec("algo-2", ["algo-1", "algo-2"], "ml.m5.xlarge", 4, 0,
                    {"train": {"ContentType": "text/csv"}}, {"epochs": "2", "layers": "[1, 2]"},
                    {"MY_ENV": "1"}, "job", "arn:job")
    contract.prepare(layout, spec)
    env = contract.environment(layout, spec, "train.py", "s3://b/src.tar.gz")
    assert env["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert env["SM_MODEL_DIR"] == "/opt/ml/model"
    assert env["SM_HP_LAYERS"] == "[1,2]"
    assert env["SM_HOSTS"] == '["algo-1", "algo-2"]'
    assert env["SM_CURRENT_HOST"] == "algo-2" and env["MY_ENV"] == "1"
    assert env["SM_MODULE_NAME"] == "train"
    assert json.loads(env["SM_USER_ARGS"]) == ["--epochs", "2", "--layers", "[1, 2]"]
    rc = json.loads((tmp_path / "input/config/resourceconfig.json").read_text())
    assert rc["current_host"] == "algo-2" and rc["hosts"] == ["algo-1", "algo-2"]
    assert json.loads((tmp_path / "input/config/hyperparameters.json").read_text())["epochs"] == "2"
    assert (tmp_path / "input/data/train").is_dir()


@pytest.mark.parametrize(("image", "repo", "tag"), [
    ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1-cpu-py310", "pytorch-training",
     "2.1-cpu-py310"),
    ("683313688378.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1", "sagemaker-xgboost", "1.7-1"),
    ("sagemaker-scikit-learn", "sagemaker-scikit-learn", "latest"),
])
def test_parse_image(image: str, repo: str, tag: str) -> None:
    assert parse_image(image) == (repo, tag)


def test_unknown_image_is_a_clear_error() -> None:
    with pytest.raises(UnknownImage, match="no runtime for image"):
        resolve("123.dkr.ecr.us-east-1.amazonaws.com/my-own:1", script_mode=True)


def test_lifecycle_rules() -> None:
    check_transition("j", JobStatus.IN_PROGRESS, JobStatus.STOPPING)
    check_transition("j", JobStatus.STOPPING, JobStatus.COMPLETED)  # finished while stopping
    with pytest.raises(InvalidState):
        check_transition("j", JobStatus.COMPLETED, JobStatus.IN_PROGRESS)


def test_enums_match_botocore() -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    assert {s.value for s in JobStatus} <= set(model.shape_for("TrainingJobStatus").enum)
    assert {s.value for s in SecondaryStatus} <= set(model.shape_for("SecondaryStatus").enum)
