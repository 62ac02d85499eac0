"""The SageMaker training contract as a built-in algorithm reads it (reference §6.1).

Every path is under `KILN_OPT_ML` when that variable is set (Kiln's fallback when the job cannot get a
private mount namespace), else under /opt/ml.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln.algorithms.xgboost.errors import ClientError

OPT_ML = "/opt/ml"


def opt_ml_root() -> Path:
    return Path(os.environ.get("KILN_OPT_ML") or OPT_ML)


def _read_json(path: Path, default: Any) -> Any:
    if not path.is_file():
        return default
    try:
        return json.loads(path.read_text() or "null") or default
    except ValueError as e:
        raise ClientError(f"{path.name} is not valid JSON: {e}") from None


@dataclass(slots=True)
class TrainingEnvironment:
    root: Path
    hyperparameters: dict[str, str]
    input_data_config: dict[str, dict[str, Any]]
    current_host: str = "algo-1"
    hosts: list[str] = field(default_factory=lambda: ["algo-1"])
    checkpoint_dir: Path | None = None
    num_cpus: int | None = None
    num_gpus: int = 0

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.root / "output" / "data"

    def channel_path(self, channel: str) -> Path:
        return self.root / "input" / "data" / channel

    def channel_mode(self, channel: str) -> str:
        return str(self.input_data_config.get(channel, {}).get("TrainingInputMode") or "File")

    def content_type(self, channel: str) -> str | None:
        value = self.input_data_config.get(channel, {}).get("ContentType")
        return str(value) if value else None

    def has_channel(self, channel: str) -> bool:
        if channel in self.input_data_config:
            return True
        return self.channel_path(channel).exists() or (self.root / "input" / "data" / f"{channel}_0").exists()


def _remap(path: str, root: Path) -> Path:
    """A path the job was told about (`/opt/ml/...`) as it lies on this host."""
    if root != Path(OPT_ML) and (path == OPT_ML or path.startswith(OPT_ML + "/")):
        return root / path[len(OPT_ML):].lstrip("/")
    return Path(path)


def _checkpoint_dir(root: Path, config_dir: Path) -> Path | None:
    """CheckpointConfig.LocalPath (checkpointconfig.json, as SageMaker writes it), Kiln's
    SM_CHECKPOINT_DIR, or /opt/ml/checkpoints when that directory exists."""
    cfg = _read_json(config_dir / "checkpointconfig.json", {})
    if isinstance(cfg, dict) and cfg.get("LocalPath"):
        return _remap(str(cfg["LocalPath"]), root)
    if os.environ.get("SM_CHECKPOINT_DIR"):
        return _remap(os.environ["SM_CHECKPOINT_DIR"], root)
    default = root / "checkpoints"
    return default if default.is_dir() else None


def _int_env(name: str) -> int | None:
    try:
        return int(os.environ[name])
    except (KeyError, ValueError):
        return None


def load_environment(root: Path | None = None) -> TrainingEnvironment:
    root = root or opt_ml_root()
    config_dir = root / "input" / "config"
    hps = _read_json(config_dir / "hyperparameters.json", {})
    if not isinstance(hps, dict):
        raise ClientError("hyperparameters.json must hold a JSON object")
    data_config = _read_json(config_dir / "inputdataconfig.json", {})
    resources = _read_json(config_dir / "resourceconfig.json", {})
    hosts = list(resources.get("hosts") or ["algo-1"])
    current = str(resources.get("current_host") or os.environ.get("SM_CURRENT_HOST") or hosts[0])
    return TrainingEnvironment(
        root=root,
        # hyperparameters.json holds strings; tolerate numbers written by hand
        hyperparameters={str(k): v if isinstance(v, str) else json.dumps(v) for k, v in hps.items()},
        input_data_config=data_config if isinstance(data_config, dict) else {},
        current_host=current,
        hosts=hosts,
        checkpoint_dir=_checkpoint_dir(root, config_dir),
        num_cpus=_int_env("SM_NUM_CPUS"),
        num_gpus=_int_env("SM_NUM_GPUS") or 0,
    )
