"""Time the parametric-ensemble forecast on 100,000 synthetic runs × 100 epochs.

The forecast sees the first N epochs (default 20) of every run and predicts the final
loss, M_er and ep* with 80 % / 95 % intervals (``reusebench forecast --predictors
ensemble``): seven families fitted twice (held-out weighting, then the whole prefix) and
S predictive draws per run. Target: ≤ 60 s on 2 cores. With --threads > 1 the chunks of
2,048 runs go to that many worker processes (``predict.worker_pool``); CPU seconds count
the workers too.

Also times, on a random subsample, a per-run ``scipy.optimize.curve_fit`` loop over the
same fits (same families, starts, bounds and Jacobians; method trf), extrapolates it to
all runs, and reports how the fitted SSEs compare, so speed does not come from a worse fit.

    python benchmarks/forecast_speed.py [--runs 100000] [--epochs 100] [--observed 20]
                                        [--draws 100] [--threads 2] [--subsample 200]
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from reusebench.core.curves import validate_curves
from reusebench.core.forecast.families import FAMILIES, Family
from reusebench.core.forecast.predict import (
    DEFAULT_DRAWS,
    FIT_BLOCK,
    fit_members,
    holdout_size,
    map_forecasts,
    summarize,
    worker_pool,
)
from reusebench.core.forecast.targets import targets_of
from reusebench.data.synthetic import synthetic_curves, synthetic_grid


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished worker processes."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class Clock:
    """Wall and CPU seconds of a block (worker processes included once they exit)."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *_) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = cpu_seconds() - self.cpu


def scipy_fit(family: Family, x: np.ndarray, y: np.ndarray, start: np.ndarray) -> float:
    """SSE of one curve_fit of ``family`` (NaN when it fails)."""
    def model(x, *theta):
        return family.values(x, np.array([theta]))[0]

    def jacobian(x, *theta):
        return family.evaluate(x, np.array([theta]), True)[1][0]

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", (OptimizeWarning, RuntimeWarning))
            theta, _ = curve_fit(model, x, y, p0=start, jac=jacobian, method="trf",
                                 bounds=(family.lower, family.upper), max_nfev=1000)
        return float(((model(x, *theta) - y) ** 2).sum())
    except (RuntimeError, ValueError):
        return np.nan


def scipy_loop(prefix: np.ndarray) -> np.ndarray:
    """The ensemble's fits one run at a time: held-out then whole prefix, per family.

    Returns the whole-prefix SSE per run and family."""
    x = np.arange(1.0, prefix.shape[1] + 1.0)
    train = len(x) - holdout_size(len(x))
    sse = np.full((len(prefix), len(FAMILIES)), np.nan)
    for row, y in enumerate(prefix):
        for column, family in enumerate(FAMILIES.values()):
            ones = np.ones((1, len(x)))
            scipy_fit(family, x[:train], y[:train], family.start(x[:train], y[None, :train],
                                                                 ones[:, :train])[0])
            sse[row, column] = scipy_fit(family, x, y, family.start(x, y[None], ones)[0])
    return sse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--observed", type=int, default=20)
    parser.add_argument("--draws", type=int, default=DEFAULT_DRAWS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--subsample", type=int, default=200)
    parser.add_argument("--diverging", type=float, default=0.02)
    args = parser.parse_args()

    keys = synthetic_grid([f"d{i}" for i in range(5)], [f"arch{i}" for i in range(10)],
                          [1e-2, 1e-3, 1e-4, 1e-5], ["random", "pretrained"],
                          list(range(-(-args.runs // 400))))
    keys = keys.iloc[: args.runs].reset_index(drop=True)
    curves = synthetic_curves(keys, args.epochs, seed=1, diverging_fraction=args.diverging)
    targets = targets_of(validate_curves(curves, source="synthetic"))
    print(f"{len(keys):,} runs × {args.epochs} epochs, forecast from N = {args.observed}, "
          f"{args.draws} draws, {args.threads} workers ({args.diverging:.0%} diverging)")

    with Clock() as whole:
        parts = map_forecasts(targets, args.observed, "ensemble", args.draws, targets.length,
                              lambda draws, rows: (summarize(draws), draws.status),
                              threads=args.threads)
    statuses = np.concatenate([part[1] for part in parts])
    names, counts = np.unique(statuses, return_counts=True)
    print(f"ensemble forecast (fits + draws + intervals): {whole.wall:7.2f} s wall, "
          f"{whole.cpu:7.2f} s CPU  (target ≤ 60 s on 2 cores)")
    print("  statuses: " + ", ".join(f"{n} {c:,}" for n, c in zip(names, counts, strict=True)))

    prefix = targets.values[:, : args.observed]
    blocks = [prefix[start:start + FIT_BLOCK] for start in range(0, len(prefix), FIT_BLOCK)]
    with Clock() as fits:
        if args.threads > 1:
            with worker_pool(args.threads) as pool:
                members = list(pool.map(fit_members, blocks))
        else:
            members = [fit_members(block) for block in blocks]
    print(f"the 14 batched fits alone:                    {fits.wall:7.2f} s wall, "
          f"{fits.cpu:7.2f} s CPU")

    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(len(prefix), size=min(args.subsample, len(prefix)),
                                replace=False))
    sample = sample[np.isfinite(prefix[sample]).all(axis=1)]
    with Clock() as loop:
        reference = scipy_loop(prefix[sample])
    loop_seconds = loop.wall / len(sample) * len(prefix)
    print(f"curve_fit loop over the same 14 fits, {len(sample)} runs, extrapolated to "
          f"{len(prefix):,}: {loop_seconds:8.1f} s")
    print(f"speed-up over the loop: fits {loop_seconds / fits.wall:6.1f}×, whole forecast "
          f"incl. draws {loop_seconds / whole.wall:6.1f}×")

    ours = np.concatenate([np.stack([m.fit.sse for m in block], axis=1) for block in members])
    ours = ours[sample]
    both = np.isfinite(ours) & np.isfinite(reference) & (reference > 0)
    relative = (ours[both] - reference[both]) / reference[both]
    print(f"SSE batched vs curve_fit over {both.sum()} fits: median relative difference "
          f"{np.median(relative):+.2e}; batched lower or within 1e-3: "
          f"{np.mean(relative <= 1e-3):.1%}; batched worse by > 1 %: "
          f"{np.mean(relative > 1e-2):.1%}")


if __name__ == "__main__":
    main()
