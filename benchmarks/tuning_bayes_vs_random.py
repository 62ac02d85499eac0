"""Bayesian vs Random: trials needed to come within a tolerance of the optimum.

Two objectives: a known noisy function of three hyperparameters (learning rate on a log scale,
dropout, hidden units; optimum 0, Gaussian noise sd 0.02 on what the trial reports), and a real
small model (scikit-learn kernel ridge regression on the diabetes data shipped with scikit-learn;
objective = validation MSE; optimum = the best of a dense 40x40 log grid).

By default the search runs in-process on Kiln's own tuning code (the Space, samplers and TuningStudy
the server's reconciler uses) with the objective evaluated directly, so many seeds are cheap.
`--live` runs the noisy function as real tuning jobs on a Kiln server (every trial a training job),
with a looser tolerance (0.1) so that Random gets there within the live budget.
A run that never reaches the tolerance counts as budget + 1. Goal: Bayesian needs at most half the
trials Random needs (medians).

    python benchmarks/tuning_bayes_vs_random.py [--seeds 8] [--budget 100] [--live --live-seeds 3]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tuning_harness import live_server, request, run_in_process, run_live

RANGES = {
    "ContinuousParameterRanges": [
        {"Name": "lr", "MinValue": "0.0001", "MaxValue": "0.1", "ScalingType": "Logarithmic"},
        {"Name": "dropout", "MinValue": "0.1", "MaxValue": "0.5", "ScalingType": "Linear"}],
    "IntegerParameterRanges": [{"Name": "units", "MinValue": "64", "MaxValue": "512", "ScalingType": "Linear"}],
}
NOISE = 0.02
TOLERANCE = 0.05

SCRIPT = """
import json, math, os, random
hps = json.loads(os.environ["SM_HPS"])
lr, dropout, units = float(hps["lr"]), float(hps["dropout"]), int(hps["units"])
true = (math.log10(lr) + 2.5) ** 2 + 4 * (dropout - 0.3) ** 2 + ((units - 256) / 200) ** 2
noisy = true + random.Random(os.environ.get("TRAINING_JOB_NAME", "")).gauss(0, 0.02)
print(f"true={true:.6f}")
print(f"loss={noisy:.6f}")
"""


def true_f(tuned: dict[str, str]) -> float:
    return ((math.log10(float(tuned["lr"])) + 2.5) ** 2 + 4 * (float(tuned["dropout"]) - 0.3) ** 2
            + ((int(tuned["units"]) - 256) / 200) ** 2)


def trials_to(strategy: str, seed: int, budget: int, reached: Callable[[dict[str, str]], bool],
              observe: Callable[[dict[str, str]], float], ranges: dict) -> int:
    req = request(f"bench-{strategy.lower()}-{seed}", strategy, ranges, max_jobs=budget, parallel=1, seed=seed)
    hits: list[int] = []
    seen: dict[int, dict[str, str]] = {}

    def curve(tuned: dict[str, str], epoch: int) -> float:
        seen["last"] = tuned
        return observe(tuned)

    for number, _, _ in run_in_process(req, curve, epochs=1):
        if reached(seen["last"]):
            hits.append(number)
            break
    return hits[0] if hits else budget + 1


def noisy_function(seeds: int, budget: int) -> None:
    print(f"\n== noisy function: trials until true objective <= {TOLERANCE} (optimum 0, noise sd {NOISE}), "
          f"budget {budget}, {seeds} seeds, in-process")
    results: dict[str, list[int]] = {}
    for strategy in ("Random", "Bayesian"):
        start = time.perf_counter()
        results[strategy] = []
        for seed in range(seeds):
            rng = random.Random(seed)
            results[strategy].append(trials_to(strategy, seed, budget, lambda t: true_f(t) <= TOLERANCE,
                                               lambda t, rng=rng: true_f(t) + rng.gauss(0, NOISE), RANGES))
        print(f"{strategy:9s} trials: {results[strategy]}  median {statistics.median(results[strategy])}  "
              f"({time.perf_counter() - start:.1f}s)")
    report(results)


def real_model(seeds: int, budget: int) -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.preprocessing import StandardScaler

    x, y = load_diabetes(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    order = np.random.default_rng(0).permutation(len(x))
    train, val = order[:300], order[300:]

    def mse(alpha: float, gamma: float) -> float:
        model = KernelRidge(alpha=alpha, kernel="rbf", gamma=gamma).fit(x[train], y[train])
        return float(np.mean((model.predict(x[val]) - y[val]) ** 2))

    grid = np.logspace(-4, 1, 40), np.logspace(-4, 0, 40)
    optimum = min(mse(a, g) for a in grid[0] for g in grid[1])
    target = optimum * 1.005
    ranges = {"ContinuousParameterRanges": [
        {"Name": "alpha", "MinValue": "0.0001", "MaxValue": "10", "ScalingType": "Logarithmic"},
        {"Name": "gamma", "MinValue": "0.0001", "MaxValue": "1", "ScalingType": "Logarithmic"}]}
    print(f"\n== real model: kernel ridge on diabetes, trials until validation MSE <= {target:.1f} "
          f"(grid optimum {optimum:.1f} + 0.5%), budget {budget}, {seeds} seeds, in-process")
    results: dict[str, list[int]] = {}
    for strategy in ("Random", "Bayesian"):
        results[strategy] = [
            trials_to(strategy, seed, budget, lambda t: mse(float(t["alpha"]), float(t["gamma"])) <= target,
                      lambda t: mse(float(t["alpha"]), float(t["gamma"])), ranges) for seed in range(seeds)]
        print(f"{strategy:9s} trials: {results[strategy]}  median {statistics.median(results[strategy])}")
    report(results)


def live(seeds: int, budget: int, parallel: int, tolerance: float) -> None:
    print(f"\n== noisy function as real tuning jobs on a Kiln server: trials (in launch order) until true "
          f"objective <= {tolerance}, budget {budget}, {parallel} in parallel, {seeds} seeds")
    results: dict[str, list[int]] = {"Random": [], "Bayesian": []}
    with tempfile.TemporaryDirectory() as tmp, live_server(Path(tmp) / "data", SCRIPT) as sm:
        for seed in range(seeds):
            for strategy in results:
                start = time.perf_counter()
                req = request(f"live-{strategy.lower()}-{seed}", strategy, RANGES, max_jobs=budget,
                              parallel=parallel, seed=seed)
                trials = sorted(run_live(sm, req), key=lambda t: t["CreationTime"])
                first = next((i + 1 for i, t in enumerate(trials) if true_f(t["TunedHyperParameters"]) <= tolerance),
                             budget + 1)
                results[strategy].append(first)
                print(f"  seed {seed} {strategy:9s}: {first} trials ({len(trials)} run, "
                      f"{time.perf_counter() - start:.0f}s)")
    for strategy, values in results.items():
        print(f"{strategy:9s} trials: {values}  median {statistics.median(values)}")
    report(results)


def report(results: dict[str, list[int]]) -> None:
    ratio = statistics.median(results["Bayesian"]) / statistics.median(results["Random"])
    print(f"Bayesian / Random (medians): {ratio:.2f}  goal <= 0.50: {'met' if ratio <= 0.5 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--model-seeds", type=int, default=8)
    parser.add_argument("--model-budget", type=int, default=100)
    parser.add_argument("--live", action="store_true")
    parser.add_argument("--live-seeds", type=int, default=3)
    parser.add_argument("--live-budget", type=int, default=100)
    parser.add_argument("--live-tolerance", type=float, default=0.1)
    parser.add_argument("--live-parallel", type=int, default=2)
    args = parser.parse_args()
    noisy_function(args.seeds, args.budget)
    real_model(args.model_seeds, args.model_budget)
    if args.live:
        live(args.live_seeds, args.live_budget, args.live_parallel, args.live_tolerance)


if __name__ == "__main__":
    main()
