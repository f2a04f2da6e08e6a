"""Synthetic loss curves with known structure, for the default pipeline, tests and benchmarks.

Each run's test loss decays like ``floor + scale * ep**-rate`` with multiplicative
noise; pretrained runs start lower, higher learning rates decay faster but noisier,
and a chosen fraction of runs diverge (loss grows, then turns inf). ``reference_loss``
stands for the constant-prediction loss: a fixed level per data set just above where an
untrained run starts (1.2 × (floor + the largest initial excess)).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from reusebench.core.curves import make_run_id

MAX_SCALE = 1.6  # largest initial excess of the test loss over its floor


def synthetic_grid(datasets: Sequence[str], archs: Sequence[str], lrs: Sequence[float],
                   inits: Sequence[str], seeds: Sequence[int], device: str = "cpu",
                   study: str = "synthetic") -> pd.DataFrame:
    """One row of run keys per combination of the given values."""
    combos = itertools.product(datasets, archs, inits, lrs, seeds)
    keys = pd.DataFrame(list(combos), columns=["dataset", "arch", "init", "lr", "seed"])
    keys.insert(0, "study", study)
    keys["device"] = device
    return keys


def synthetic_curves(keys: pd.DataFrame, n_epochs: int, seed: int = 0,
                     diverging_fraction: float = 0.0) -> pd.DataFrame:
    """A curve table with ``n_epochs`` epochs for each row of run keys."""
    rng = np.random.default_rng(seed)
    n_runs = len(keys)
    epoch = np.arange(1, n_epochs + 1, dtype="float64")
    pretrained = (keys["init"] != "random").to_numpy()
    lr_scale = np.log10(keys["lr"].to_numpy(dtype="float64") * 1e4).clip(0.1, 3.0)
    hardness = _stable_uniform(keys["dataset"], 0.05, 0.6)
    floor = hardness * rng.uniform(0.8, 1.2, n_runs)
    scale = rng.uniform(0.8, MAX_SCALE, n_runs) * np.where(pretrained, 0.5, 1.0)
    rate = rng.uniform(0.3, 0.9, n_runs) * lr_scale
    noise = rng.uniform(0.01, 0.08, n_runs) * lr_scale
    clean = floor[:, None] + scale[:, None] * epoch[None, :] ** -rate[:, None]
    test_loss = clean * np.exp(noise[:, None] * rng.standard_normal((n_runs, n_epochs)))
    train_loss = 0.85 * clean * np.exp(0.5 * noise[:, None]
                                       * rng.standard_normal((n_runs, n_epochs)))
    _diverge(rng, train_loss, test_loss, diverging_fraction)
    seconds = _stable_uniform(keys["arch"], 0.5, 3.0)[:, None] * rng.uniform(
        0.95, 1.05, (n_runs, n_epochs))
    curves = keys.loc[keys.index.repeat(n_epochs)].reset_index(drop=True)
    curves.insert(0, "run_id", make_run_id(curves))
    curves["epoch"] = np.tile(np.arange(1, n_epochs + 1), n_runs)
    curves["train_loss"] = train_loss.ravel()
    curves["test_loss"] = test_loss.ravel()
    curves["epoch_seconds"] = seconds.ravel()
    curves["eval_seconds"] = 0.2 * seconds.ravel()
    curves["reference_loss"] = np.repeat(1.2 * (hardness + MAX_SCALE), n_epochs)
    for column in ("gpu_mem_max_mb", "gpu_util_mean_pct", "gpu_samples"):
        curves[column] = np.nan  # synthetic runs use no GPU
    return curves


def _stable_uniform(labels: pd.Series, low: float, high: float) -> np.ndarray:
    """A value in [low, high) fixed per label, the same in every call."""
    codes = labels.map(lambda text: sum(map(ord, str(text))) % 97 / 97).to_numpy(dtype="float64")
    return low + (high - low) * codes


def _diverge(rng: np.random.Generator, train_loss: np.ndarray, test_loss: np.ndarray,
             fraction: float) -> None:
    n_runs, n_epochs = test_loss.shape
    chosen = np.flatnonzero(rng.random(n_runs) < fraction)
    for run in chosen:
        start = int(rng.integers(n_epochs // 3, n_epochs))
        growth = np.exp(np.arange(n_epochs - start) * 1.5)
        test_loss[run, start:] *= growth
        train_loss[run, start:] *= growth
        test_loss[run, min(start + 3, n_epochs - 1):] = np.inf
        train_loss[run, min(start + 3, n_epochs - 1):] = np.nan
