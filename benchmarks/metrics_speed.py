"""Time the whole metric pass on 100,000 synthetic runs × 100 epochs.

Also times, on a random subsample, the per-run ``scipy.optimize.curve_fit`` loop the
Study A authors' code uses (p0 = (1, 1), one call per run, model and N), extrapolates
it to all runs, and reports how closely the two fits agree (max relative difference
of Δ(fit) over runs where both succeed), so speed does not come from another answer.

    python benchmarks/metrics_speed.py [--runs 100000] [--epochs 100] [--subsample 300]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from scipy.optimize import OptimizeWarning, curve_fit

from reusebench.core.curves import curve_matrix, run_keys, validate_curves
from reusebench.core.metrics import (
    DEFAULT_FIT_POINTS,
    MATRIX_COLUMNS,
    metrics_of_matrix,
    predictability,
)
from reusebench.core.pairs import pair_metrics
from reusebench.data.synthetic import synthetic_curves, synthetic_grid

MODELS = {"pw": lambda x, a, b: a * np.power(x, b), "exp": lambda x, a, b: a * np.power(b, x)}


def scipy_deltas(epoch: np.ndarray, test_loss: np.ndarray) -> dict[str, float]:
    """Δ(fit) for one run, fitted the way the authors' code does (curve_fit, p0 = (1, 1))."""
    deltas = {}
    for n_points in DEFAULT_FIT_POINTS:
        for name, model in MODELS.items():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", (OptimizeWarning, RuntimeWarning))
                    params, _ = curve_fit(model, epoch[:n_points], test_loss[:n_points],
                                          p0=(1.0, 1.0), maxfev=10_000)
                with np.errstate(all="ignore"):
                    deltas[f"{name}_{n_points}"] = np.abs(test_loss - model(epoch, *params)).sum()
            except (RuntimeError, ValueError):
                deltas[f"{name}_{n_points}"] = np.nan
    return deltas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--subsample", type=int, default=300)
    parser.add_argument("--diverging", type=float, default=0.02)
    args = parser.parse_args()

    seeds = range(-(-args.runs // 400))
    keys = synthetic_grid([f"d{i}" for i in range(5)], [f"arch{i}" for i in range(10)],
                          [1e-2, 1e-3, 1e-4, 1e-5], ["random", "pretrained"], list(seeds))
    keys = keys.iloc[: args.runs].reset_index(drop=True)
    curves = synthetic_curves(keys, args.epochs, seed=1, diverging_fraction=args.diverging)
    print(f"{len(keys):,} runs × {args.epochs} epochs = {len(curves):,} rows "
          f"({args.diverging:.0%} diverging)")

    start = time.perf_counter()
    curves = validate_curves(curves, source="synthetic")
    validated = time.perf_counter()
    # the steps of reusebench.core.metric_tables.metric_tables, timed one by one
    matrix = curve_matrix(curves, MATRIX_COLUMNS)
    run_metrics = pd.concat([run_keys(curves), metrics_of_matrix(matrix)], axis=1)
    per_run_done = time.perf_counter()
    pairs, _ = pair_metrics(curves, run_metrics, matrix)
    done = time.perf_counter()
    metric_seconds = done - validated
    print(f"validate table (reading, not a metric): {validated - start:7.2f} s")
    print(f"per-run metrics incl. 6 fits:           {per_run_done - validated:7.2f} s")
    print(f"pairs ({len(pairs):,}):                      {done - per_run_done:7.2f} s")
    print(f"whole metric pass:                      {metric_seconds:7.2f} s  (target ≤ 10 s)")

    rng = np.random.default_rng(0)
    sample = rng.choice(len(matrix.run_ids), size=min(args.subsample, len(matrix.run_ids)),
                        replace=False)
    start = time.perf_counter()
    reference = [scipy_deltas(matrix.epoch[i], matrix.values["test_loss"][i]) for i in sample]
    loop_seconds = (time.perf_counter() - start) / len(sample) * len(matrix.run_ids)
    print(f"curve_fit loop, {len(sample)} runs, extrapolated to {len(matrix.run_ids):,}: "
          f"{loop_seconds:8.1f} s")
    start = time.perf_counter()
    predictability(matrix.epoch, matrix.values["test_loss"], matrix.valid)
    fit_seconds = time.perf_counter() - start
    print(f"the six fits + Δ alone, batched:        {fit_seconds:7.2f} s")
    print(f"speed-up of the fits over the loop: {loop_seconds / fit_seconds:6.1f}× (target ≥ 50×; "
          f"whole metric pass incl. pairs: {loop_seconds / metric_seconds:.1f}×)")

    ours = run_metrics.iloc[sample]
    worst, compared, differ = 0.0, 0, 0
    for row, deltas in zip(ours.itertuples(index=False), reference, strict=True):
        for name, theirs in deltas.items():
            mine = getattr(row, f"delta_fit_{name}")
            if np.isfinite(mine) and np.isfinite(theirs) and theirs > 0:
                relative = abs(mine - theirs) / theirs
                worst = max(worst, relative)
                compared += 1
                differ += relative > 1e-3
    print(f"agreement of Δ(fit) with curve_fit: max relative difference {worst:.2e} over "
          f"{compared} fits ({differ} differ by > 1e-3)")


if __name__ == "__main__":
    main()
