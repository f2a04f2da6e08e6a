"""Time the whole metric pass on 100,000 synthetic runs × 100 epochs.

Also times, on a random subsample, the per-run ``scipy.optimize.curve_fit`` loop the
Study A authors' code uses (p0 = (1, 1), one call per run, model and N), extrapolates
it to all runs, and reports how closely the two fits agree (max relative difference
of Δ(fit) over runs where both succeed), so speed does not come from another answer.

Two ratios, each measured within this one run so that a busy machine slows both sides:
- validating the curve table / the metric pass (target ≤ 0.5×), on wall-clock time;
- the curve_fit loop / the batched fits (target ≥ 50×), on the CPU time of this process,
  which waiting for a busy CPU does not inflate: the two sides are timed in turn
  ``--repeats`` times and the median of the rounds' ratios counts. The batched side's CPU
  time counts all its threads, so this is the harder comparison on an idle multi-core
  machine, where its wall-clock time would be less.

    python benchmarks/metrics_speed.py [--runs 100000] [--epochs 100] [--subsample 1000]
                                       [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

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
VALIDATION_TARGET = 0.5  # validation time / metric-pass time, at most
FIT_TARGET = 50.0  # curve_fit loop time / batched fit time, at least


def timed(work: Callable[[], object]) -> tuple[object, float, float]:
    """work()'s result, wall-clock seconds, CPU seconds of this process (all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def median_timing(work: Callable[[], object], repeats: int) -> tuple[object, float, float]:
    """The first result and the median wall-clock and CPU seconds of ``repeats`` calls."""
    runs = [timed(work) for _ in range(repeats)]
    return (runs[0][0], statistics.median(run[1] for run in runs),
            statistics.median(run[2] for run in runs))


def verdict(holds: bool) -> str:
    return "target met" if holds else "target NOT met"


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
    parser.add_argument("--subsample", type=int, default=1000,
                        help="runs fitted with curve_fit (timed, then extrapolated)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timings of each side of the fit comparison (median used)")
    parser.add_argument("--diverging", type=float, default=0.02)
    args = parser.parse_args()

    seeds = range(-(-args.runs // 400))
    keys = synthetic_grid([f"d{i}" for i in range(5)], [f"arch{i}" for i in range(10)],
                          [1e-2, 1e-3, 1e-4, 1e-5], ["random", "pretrained"], list(seeds))
    keys = keys.iloc[: args.runs].reset_index(drop=True)
    curves = synthetic_curves(keys, args.epochs, seed=1, diverging_fraction=args.diverging)
    print(f"{len(keys):,} runs × {args.epochs} epochs = {len(curves):,} rows "
          f"({args.diverging:.0%} diverging)")

    curves, validate_wall, validate_cpu = timed(
        lambda: validate_curves(curves, source="synthetic"))
    wall, cpu = time.perf_counter(), time.process_time()
    # the steps of reusebench.core.metric_tables.metric_tables, timed one by one
    matrix = curve_matrix(curves, MATRIX_COLUMNS)
    run_metrics = pd.concat([run_keys(curves), metrics_of_matrix(matrix)], axis=1)
    per_run_done = time.perf_counter()
    pairs, _ = pair_metrics(curves, run_metrics, matrix)
    done = time.perf_counter()
    metric_seconds, metric_cpu = done - wall, time.process_time() - cpu
    print(f"validate table (reading, not a metric): {validate_wall:7.2f} s  "
          f"(CPU {validate_cpu:.2f} s)")
    print(f"per-run metrics incl. 6 fits:           {per_run_done - wall:7.2f} s")
    print(f"pairs ({len(pairs):,}):                      {done - per_run_done:7.2f} s")
    print(f"whole metric pass:                      {metric_seconds:7.2f} s  "
          f"(CPU {metric_cpu:.2f} s; target ≤ 10 s)")
    ratio = validate_wall / metric_seconds
    print(f"validation / metric pass: {ratio:.2f}× wall-clock (CPU: "
          f"{validate_cpu / metric_cpu:.2f}×); target ≤ {VALIDATION_TARGET}×: "
          f"{verdict(ratio <= VALIDATION_TARGET)}")

    rng = np.random.default_rng(0)
    sample = rng.choice(len(matrix.run_ids), size=min(args.subsample, len(matrix.run_ids)),
                        replace=False)
    epoch, test_loss = matrix.epoch, matrix.values["test_loss"]
    for i in sample[:5]:  # warm-up: first calls pay for imports and caches
        scipy_deltas(epoch[i], test_loss[i])
    scale = len(matrix.run_ids) / len(sample)
    reference, loops, fits = None, [], []
    # the two sides in turn, so that a change in the machine's pace meets both
    for _ in range(args.repeats):
        deltas, wall, cpu = timed(
            lambda: [scipy_deltas(epoch[i], test_loss[i]) for i in sample])
        reference = reference or deltas
        loops.append((wall * scale, cpu * scale))
        _, wall, cpu = timed(lambda: predictability(epoch, test_loss, matrix.valid))
        fits.append((wall, cpu))
    loop_wall, loop_cpu = (statistics.median(side) for side in zip(*loops, strict=True))
    fit_wall, fit_cpu = (statistics.median(side) for side in zip(*fits, strict=True))
    print(f"curve_fit loop, {len(sample)} runs, extrapolated to {len(matrix.run_ids):,}, "
          f"median of {args.repeats}: {loop_cpu:8.1f} s CPU ({loop_wall:.1f} s wall-clock)")
    print(f"the six fits + Δ alone, batched, median of {args.repeats}: {fit_cpu:7.2f} s CPU "
          f"({fit_wall:.2f} s wall-clock)")
    speedup = statistics.median(loop[1] / fit[1] for loop, fit in zip(loops, fits, strict=True))
    wall_speedup = statistics.median(loop[0] / fit[0]
                                     for loop, fit in zip(loops, fits, strict=True))
    print(f"speed-up of the fits over the loop (median of the {args.repeats} rounds): "
          f"{speedup:6.1f}× CPU time (wall-clock: {wall_speedup:.1f}×); target ≥ "
          f"{FIT_TARGET:.0f}×: {verdict(speedup >= FIT_TARGET)}; whole metric pass incl. "
          f"pairs: {loop_wall / metric_seconds:.1f}× wall-clock")

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
