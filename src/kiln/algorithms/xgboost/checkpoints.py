"""Checkpoints for managed spot training, in the SageMaker XGBoost container's layout.

With a checkpoint directory (CheckpointConfig.LocalPath, /opt/ml/checkpoints by default) the booster is
saved after every `interval` rounds as `xgboost-checkpoint.<round>` (`<round>` zero-based: the file
after the first round is `xgboost-checkpoint.0`). A restarted job loads the newest readable checkpoint
and trains only the rounds left. Only the newest `max_to_keep` files are kept; a file that the platform
is still uploading (`<name>.sagemaker-uploading` without `<name>.sagemaker-uploaded`) is left alone.
Writes go to a temporary file first and are renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import xgboost as xgb

log = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "xgboost-checkpoint"
_CHECKPOINT = re.compile(rf"^{re.escape(CHECKPOINT_PREFIX)}\.([0-9]+)$")
TEMP_SUFFIX = ".tmp"
UPLOADING_SUFFIX = ".sagemaker-uploading"
UPLOADED_SUFFIX = ".sagemaker-uploaded"


def list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """(round, path) of the checkpoints in `directory`, oldest first."""
    if not directory.is_dir():
        return []
    found = []
    for entry in directory.iterdir():
        m = _CHECKPOINT.match(entry.name)
        if m and entry.is_file():
            found.append((int(m.group(1)), entry))
    return sorted(found)


def load_latest(directory: Path | None) -> tuple[xgb.Booster | None, int]:
    """(booster, rounds already done) from the newest readable checkpoint; (None, 0) when none."""
    if directory is None:
        return None, 0
    for round_index, path in reversed(list_checkpoints(directory)):
        booster = xgb.Booster()
        try:
            booster.load_model(bytearray(path.read_bytes()))
        except (xgb.core.XGBoostError, OSError) as e:
            log.warning("Checkpoint %s is unreadable (%s); trying an older one.", path.name, e)
            continue
        done = booster.num_boosted_rounds()
        if done != round_index + 1:
            log.warning("Checkpoint %s holds %d rounds, its name says %d.", path.name, done, round_index + 1)
        return booster, done
    return None, 0


def save_atomically(booster: xgb.Booster, path: Path) -> None:
    """Write the booster (UBJSON) to a hidden `.tmp` file beside `path`, then rename it into place.
    Kiln's checkpoint sync skips hidden `.tmp` files, so it never uploads half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = booster.save_raw(raw_format="ubj")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _is_uploading(path: Path) -> bool:
    uploading = path.with_name(path.name + UPLOADING_SUFFIX).exists()
    return uploading and not path.with_name(path.name + UPLOADED_SUFFIX).exists()


class SaveCheckpoint(xgb.callback.TrainingCallback):
    """Save `xgboost-checkpoint.<round>` every `interval` rounds and on the last round."""

    def __init__(self, directory: Path, *, start_round: int, num_round: int, interval: int = 1,
                 max_to_keep: int = 5) -> None:
        super().__init__()
        self.directory = directory
        self.start_round = start_round
        self.num_round = num_round
        self.interval = max(1, interval)
        self.max_to_keep = max_to_keep
        directory.mkdir(parents=True, exist_ok=True)

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        round_index = self.start_round + epoch
        last = round_index + 1 >= self.num_round
        if (round_index + 1) % self.interval == 0 or last:
            save_atomically(model, self.directory / f"{CHECKPOINT_PREFIX}.{round_index}")
            self._prune()
        return False

    def _prune(self) -> None:
        existing = list_checkpoints(self.directory)
        for _round, path in existing[: max(0, len(existing) - self.max_to_keep)]:
            if _is_uploading(path):
                continue
            try:
                path.unlink()
            except OSError:
                log.debug("Could not delete old checkpoint %s", path)
