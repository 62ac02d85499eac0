"""Hyperband vs Random: total training seconds until a trial reaches the same good objective.

The training script is iterative: after epoch e it prints loss = f(lr, dropout) + 1 / e**0.7 (+ noise
sd 0.005), so longer training helps every configuration and good configurations look good early.
Target: a fully trained (27 epochs) trial within a tolerance of the optimum, i.e. loss <= tol + 1/27**0.7,
for tol = 0.05 and 0.02 (the tighter, the more trials Random needs).
Random runs every trial for all 27 epochs; Hyperband (MinResource 1, MaxResource 27, Kiln's
strategy: TPE proposals, Optuna's asynchronous Hyperband stopping losers at 1, 3 and 9 epochs) stops
the losers early.

Default: in-process on Kiln's own tuning code, one epoch = one second of training (figures are epoch
counts, i.e. training seconds at 1 s/epoch), several seeds. `--live` also runs it as real tuning jobs on
a Kiln server and sums each trial's TrainingEndTime - TrainingStartTime (process start-up included)
until the target is reached. Goal: Hyperband needs at most a third of Random's seconds (medians).

    python benchmarks/tuning_hyperband_vs_random.py [--seeds 8] [--live --live-seeds 2]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import tempfile
import time
from pathlib import Path

from tuning_harness import live_server, request, run_in_process, run_live

EPOCHS = 27
RANGES = {"ContinuousParameterRanges": [
    {"Name": "lr", "MinValue": "0.0001", "MaxValue": "0.1", "ScalingType": "Logarithmic"},
    {"Name": "dropout", "MinValue": "0.1", "MaxValue": "0.5", "ScalingType": "Linear"}]}
TOLERANCES = (0.05, 0.02)
HYPERBAND = {"StrategyConfig": {"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": EPOCHS}}}

SCRIPT = f"""
import json, math, os, random, time
hps = json.loads(os.environ["SM_HPS"])
lr, dropout = float(hps["lr"]), float(hps["dropout"])
rng = random.Random(os.environ.get("TRAINING_JOB_NAME", ""))
for epoch in range(1, {EPOCHS} + 1):
    time.sleep(float(hps.get("epoch_seconds", "0.2")))
    loss = (math.log10(lr) + 2.5) ** 2 + 4 * (dropout - 0.3) ** 2 + 1 / epoch ** 0.7 + rng.gauss(0, 0.005)
    print(f"epoch={{epoch}} loss={{loss:.6f}}", flush=True)
"""


def quality(tuned: dict[str, str]) -> float:
    return (math.log10(float(tuned["lr"])) + 2.5) ** 2 + 4 * (float(tuned["dropout"]) - 0.3) ** 2


def target(tolerance: float) -> float:
    return tolerance + 1 / EPOCHS**0.7


def seconds_to_target(strategy: str, seed: int, budget: int, goal: float) -> tuple[int, int]:
    """(epochs trained until a trial's final loss <= goal, trials run); budget exhausted: all epochs."""
    rng = random.Random(seed)
    extra = HYPERBAND if strategy == "Hyperband" else {}
    req = request(f"bench-{strategy.lower()}-{seed}", strategy, RANGES, max_jobs=budget, parallel=1, seed=seed,
                  static={"epochs": str(EPOCHS)}, **extra)
    spent = 0
    for number, final, epochs in run_in_process(req, lambda t, e: quality(t) + 1 / e**0.7 + rng.gauss(0, 0.005),
                                                EPOCHS):
        spent += epochs
        if final <= goal:
            return spent, number
    return spent, budget


def in_process(seeds: int, budget: int, tolerance: float) -> None:
    print(f"\n== in-process, 1 epoch = 1 s: training seconds until a trial's final loss <= {target(tolerance):.4f} "
          f"(tolerance {tolerance}), budget {budget} trials, {seeds} seeds")
    medians = {}
    for strategy in ("Random", "Hyperband"):
        runs = [seconds_to_target(strategy, seed, budget, target(tolerance)) for seed in range(seeds)]
        secs = [s for s, _ in runs]
        medians[strategy] = statistics.median(secs)
        print(f"{strategy:9s} seconds: {secs}  median {medians[strategy]}  (trials {[n for _, n in runs]})")
    report(medians)


def live(seeds: int, budget: int, parallel: int, epoch_seconds: float, tolerance: float) -> None:
    print(f"\n== live Kiln server, tolerance {tolerance}, {epoch_seconds} s/epoch, {parallel} in parallel, "
          f"budget {budget}, {seeds} seeds: sum of trials' training seconds (ended before the first trial "
          "reaching the target, plus it)")
    found: dict[str, list[float]] = {"Random": [], "Hyperband": []}
    with tempfile.TemporaryDirectory() as tmp, live_server(Path(tmp) / "data", SCRIPT) as sm:
        for seed in range(seeds):
            for strategy in found:
                start = time.perf_counter()
                extra = HYPERBAND if strategy == "Hyperband" else {}
                req = request(f"live-{strategy.lower()}-{seed}", strategy, RANGES, max_jobs=budget, parallel=parallel,
                              seed=seed, static={"epochs": str(EPOCHS), "epoch_seconds": str(epoch_seconds)}, **extra)
                trials = [t for t in run_live(sm, req) if "TrainingEndTime" in t]
                trials.sort(key=lambda t: t["TrainingEndTime"])
                spent = 0.0
                for t in trials:
                    spent += (t["TrainingEndTime"] - t["TrainingStartTime"]).total_seconds()
                    value = (t.get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get("Value")
                    if value is not None and value <= target(tolerance):
                        break
                found[strategy].append(round(spent, 1))
                stopped = sum(t["TrainingJobStatus"] == "Stopped" for t in trials)
                print(f"  seed {seed} {strategy:9s}: {spent:.1f} training s ({len(trials)} trials, {stopped} stopped "
                      f"early, {time.perf_counter() - start:.0f}s wall)")
    medians = {k: statistics.median(v) for k, v in found.items()}
    for k, v in found.items():
        print(f"{k:9s} seconds: {v}  median {medians[k]}")
    report(medians)


def report(medians: dict[str, float]) -> None:
    ratio = medians["Hyperband"] / medians["Random"]
    print(f"Hyperband / Random (medians): {ratio:.2f}  goal <= 0.33: {'met' if ratio <= 1 / 3 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--live", action="store_true")
    parser.add_argument("--live-seeds", type=int, default=2)
    parser.add_argument("--live-budget", type=int, default=40)
    parser.add_argument("--live-parallel", type=int, default=2)
    parser.add_argument("--epoch-seconds", type=float, default=0.2)
    parser.add_argument("--live-tolerance", type=float, default=0.05)
    args = parser.parse_args()
    for tolerance in TOLERANCES:
        in_process(args.seeds, args.budget, tolerance)
    if args.live:
        live(args.live_seeds, args.live_budget, args.live_parallel, args.epoch_seconds, args.live_tolerance)


if __name__ == "__main__":
    main()
