"""The SageMaker training container contract: the /opt/ml tree, its JSON files, and the SM_* environment.

Mirrors what the sagemaker-training toolkit derives (reference §6.1): hyperparameters are JSON-decoded
when possible, `sagemaker_*` keys are framework parameters (not passed to the script), the rest become
sorted `--key value` arguments and `SM_HP_<KEY>` variables.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OPT_ML = "/opt/ml"


@dataclass(frozen=True, slots=True)
class HostLayout:
    """One host's /opt/ml tree on disk (`root`), and the path the job sees it at (`visible`)."""

    root: Path
    visible: str  # "/opt/ml" inside a private mount namespace, else str(root)

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def seen(self, *parts: str) -> str:
        return "/".join([self.visible.rstrip("/"), *parts])


@dataclass(slots=True)
class HostSpec:
    current_host: str
    hosts: list[str]
    instance_type: str
    num_cpus: int
    num_gpus: int
    channels: dict[str, dict[str, Any]]  # name -> inputdataconfig entry
    hyperparameters: dict[str, str]
    environment: dict[str, str] = field(default_factory=dict)
    job_name: str = ""
    job_arn: str = ""
    region: str = "us-east-1"
    checkpoint_dir: str | None = None  # as seen by the job


def decode_hp(value: str) -> Any:
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value


def split_hyperparameters(hps: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(user hyperparameters, framework parameters), values JSON-decoded."""
    user: dict[str, Any] = {}
    framework: dict[str, Any] = {}
    for key, raw in hps.items():
        target = framework if key.startswith("sagemaker_") or key == "_tuning_objective_metric" else user
        target[key] = decode_hp(raw)
    return user, framework


def _arg_value(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def to_cmd_args(user: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for key in sorted(user):
        args += [f"-{key}" if len(key) == 1 else f"--{key}", _arg_value(user[key])]
    return args


def _compact(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def resource_config(spec: HostSpec) -> dict[str, Any]:
    return {
        "current_host": spec.current_host,
        "current_instance_type": spec.instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": spec.hosts,
        "instance_groups": [{"instance_group_name": "homogeneousCluster", "instance_type": spec.instance_type,
                             "hosts": spec.hosts}],
        "network_interface_name": "eth0",
    }


def prepare(layout: HostLayout, spec: HostSpec) -> None:
    """Create the tree and write the three config files."""
    for sub in ("input/config", "input/data", "code", "model", "output/data", "output/intermediate",
                "output/metrics/sagemaker"):
        layout.path(*sub.split("/")).mkdir(parents=True, exist_ok=True)
    for channel in spec.channels:
        layout.path("input", "data", channel).mkdir(parents=True, exist_ok=True)
    cfg = layout.path("input", "config")
    (cfg / "hyperparameters.json").write_text(json.dumps(spec.hyperparameters))
    (cfg / "resourceconfig.json").write_text(json.dumps(resource_config(spec)))
    (cfg / "inputdataconfig.json").write_text(json.dumps(spec.channels))


def environment(layout: HostLayout, spec: HostSpec, entry_point: str | None, module_dir: str | None) -> dict[str, str]:
    """The SM_* variables the training toolkit would set, plus TRAINING_JOB_NAME/ARN."""
    user, framework = split_hyperparameters(spec.hyperparameters)
    rc = resource_config(spec)
    env: dict[str, str] = {
        "SM_MODEL_DIR": layout.seen("model"),
        "SM_INPUT_DIR": layout.seen("input"),
        "SM_INPUT_CONFIG_DIR": layout.seen("input", "config"),
        "SM_OUTPUT_DIR": layout.seen("output"),
        "SM_OUTPUT_DATA_DIR": layout.seen("output", "data"),
        "SM_OUTPUT_INTERMEDIATE_DIR": layout.seen("output", "intermediate"),
        "SM_CHANNELS": json.dumps(sorted(spec.channels)),
        "SM_HOSTS": json.dumps(spec.hosts),
        "SM_CURRENT_HOST": spec.current_host,
        "SM_CURRENT_INSTANCE_TYPE": spec.instance_type,
        "SM_CURRENT_INSTANCE_GROUP": "homogeneousCluster",
        "SM_CURRENT_INSTANCE_GROUP_HOSTS": json.dumps(spec.hosts),
        "SM_INSTANCE_GROUPS": json.dumps(["homogeneousCluster"]),
        "SM_DISTRIBUTION_INSTANCE_GROUPS": json.dumps(["homogeneousCluster"]),
        "SM_IS_HETERO": "false",
        "SM_NUM_CPUS": str(spec.num_cpus),
        "SM_NUM_GPUS": str(spec.num_gpus),
        "SM_NUM_NEURONS": "0",
        "SM_NETWORK_INTERFACE_NAME": "eth0",
        "SM_HPS": json.dumps(user),
        "SM_FRAMEWORK_PARAMS": json.dumps(framework),
        "SM_INPUT_DATA_CONFIG": json.dumps(spec.channels),
        "SM_RESOURCE_CONFIG": json.dumps(rc),
        "SM_USER_ARGS": json.dumps(to_cmd_args(user)),
        "SM_LOG_LEVEL": str(framework.get("sagemaker_container_log_level", 20)),
        "SM_FRAMEWORK_MODULE": "",
        "TRAINING_JOB_NAME": spec.job_name,
        "TRAINING_JOB_ARN": spec.job_arn,
        "AWS_REGION": spec.region,
        "AWS_DEFAULT_REGION": spec.region,
    }
    for channel in spec.channels:
        env[f"SM_CHANNEL_{channel.upper()}"] = layout.seen("input", "data", channel)
    for key, value in user.items():
        env[f"SM_HP_{key.upper()}"] = _compact(value)
    if entry_point:
        env["SM_USER_ENTRY_POINT"] = entry_point
        env["SM_MODULE_NAME"] = os.path.splitext(entry_point)[0]
    if module_dir:
        env["SM_MODULE_DIR"] = module_dir
    if spec.checkpoint_dir:
        env["SM_CHECKPOINT_DIR"] = spec.checkpoint_dir  # Kiln extra: where CheckpointConfig syncs
    training_env = {
        "channel_input_dirs": {c: layout.seen("input", "data", c) for c in spec.channels},
        "current_host": spec.current_host, "hosts": spec.hosts, "hyperparameters": user,
        "framework_params": framework, "input_data_config": spec.channels, "job_name": spec.job_name,
        "model_dir": layout.seen("model"), "module_dir": module_dir or "", "module_name": env.get("SM_MODULE_NAME", ""),
        "num_cpus": spec.num_cpus, "num_gpus": spec.num_gpus, "output_data_dir": layout.seen("output", "data"),
        "output_dir": layout.seen("output"), "resource_config": rc, "user_entry_point": entry_point or "",
    }
    env["SM_TRAINING_ENV"] = json.dumps(training_env)
    env.update(spec.environment)
    return env
