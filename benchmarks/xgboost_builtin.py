"""Built-in XGBoost algorithm overhead: `python -m kiln.algorithms.xgboost train` end to end vs
`xgboost.train` called in-process on the same data and parameters.

Synthetic regression data (default 200k rows x 20 features) is written as a headerless CSV with the
label first, into a temporary /opt/ml tree (KILN_OPT_ML). Timed, median of `--repeats` runs each:

* builtin      : the algorithm as a subprocess: interpreter start, imports, CSV parse, training with
                 per-round evaluation lines, model save (what a Kiln training job runs)
* in-process   : DMatrix from the in-memory arrays + `xgb.train` with the same params and watchlist
* + csv parse  : the in-process run plus reading the CSV with pandas (what a user script would do)

Wall and CPU seconds are both reported: CPU time (the child's rusage for the subprocess) is the
steadier figure on a busy machine.

    python benchmarks/xgboost_builtin.py [--rows 200000] [--features 20] [--rounds 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

REPO = Path(__file__).resolve().parents[1]
PARAMS = {"objective": "reg:squarederror", "max_depth": 6, "eta": 0.3}


def make_data(rows: int, features: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    y = (x @ rng.normal(size=features) + 0.5 * x[:, 0] ** 2 + rng.normal(scale=0.1, size=rows)).astype(np.float32)
    return x, y


def build_tree(root: Path, x: np.ndarray, y: np.ndarray, rounds: int) -> Path:
    config = root / "input" / "config"
    config.mkdir(parents=True)
    hps = {"num_round": str(rounds), **{k: str(v) for k, v in PARAMS.items()}}
    (config / "hyperparameters.json").write_text(json.dumps(hps))
    (config / "inputdataconfig.json").write_text(json.dumps({"train": {"ContentType": "text/csv"}}))
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
    data = root / "input" / "data" / "train"
    data.mkdir(parents=True)
    csv = data / "train.csv"
    pd.DataFrame(np.column_stack([y, x])).to_csv(csv, header=False, index=False, float_format="%.6g")
    return csv


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_builtin(root: Path, rounds: int) -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "KILN_"))}
    env.update({"KILN_OPT_ML": str(root), "PYTHONPATH": str(REPO / "src")})
    (root / "model").mkdir(exist_ok=True)
    start, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run([sys.executable, "-m", "kiln.algorithms.xgboost", "train"], env=env,
                          capture_output=True, text=True, check=False)
    elapsed, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit(f"built-in run failed:\n{proc.stdout}\n{proc.stderr}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("[") and "#011train-rmse:" in ln]
    assert len(lines) == rounds, f"expected {rounds} evaluation lines, got {len(lines)}"
    return elapsed, cpu


def run_in_process(x: np.ndarray, y: np.ndarray, rounds: int, csv: Path | None = None) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    if csv is not None:
        frame = pd.read_csv(csv, header=None, engine="pyarrow").to_numpy(dtype=np.float32)
        x, y = frame[:, 1:], frame[:, 0]
    dtrain = xgb.DMatrix(x, label=y)
    booster = xgb.train(PARAMS, dtrain, num_boost_round=rounds, evals=[(dtrain, "train")], verbose_eval=False)
    booster.save_raw("ubj")
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    x, y = make_data(args.rows, args.features)
    with tempfile.TemporaryDirectory(prefix="kiln-xgb-bench-") as tmp:
        root = Path(tmp) / "opt_ml"
        csv = build_tree(root, x, y, args.rounds)
        size_mb = csv.stat().st_size / 1e6
        builtin, direct, with_csv = [], [], []
        for _ in range(args.repeats):
            builtin.append(run_builtin(root, args.rounds))
            direct.append(run_in_process(x, y, args.rounds))
            with_csv.append(run_in_process(x, y, args.rounds, csv=csv))
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import xgboost"], check=True)
        import_s = time.perf_counter() - start

    walls = [[r[0] for r in runs] for runs in (builtin, direct, with_csv)]
    cpus = [[r[1] for r in runs] for runs in (builtin, direct, with_csv)]
    (b, d, c), (bc, dc, cc) = ([statistics.median(v) for v in group] for group in (walls, cpus))
    print(f"xgboost {xgb.__version__}, {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f}); "
          f"{args.rows} rows x {args.features} features ({size_mb:.1f} MB CSV), {args.rounds} rounds, "
          f"median of {args.repeats}")
    labels = ("builtin (subprocess, end to end)", "xgb.train in-process (arrays)", "xgb.train in-process + csv parse")
    for label, wall, cpu, runs in zip(labels, (b, d, c), (bc, dc, cc), walls, strict=True):
        print(f"  {label:34s}: {wall:7.2f} s wall, {cpu:7.2f} s CPU   runs {', '.join(f'{v:.2f}' for v in runs)}")
    print(f"  {'python -c import xgboost':34s}: {import_s:7.2f} s wall")
    print(f"  ratio builtin / in-process        : {b / d:5.2f}x wall ({b - d:+.2f} s), {bc / dc:5.2f}x CPU")
    print(f"  ratio builtin / in-process + csv  : {b / c:5.2f}x wall ({b - c:+.2f} s), {bc / cc:5.2f}x CPU")


if __name__ == "__main__":
    main()
