"""Study A metrics (Eq. 1-9) per run, vectorised over runs.

Arrays are (runs × positions), padded with NaN beyond each run's last epoch;
``valid`` marks the real entries. A non-finite loss marks the run diverged:
minima skip such epochs, while sums over epochs (M_stab, D_re, Delta(fit)) and
the correlation D_unif are NaN when a non-finite loss falls inside what they sum,
because skipping epochs would reward divergence.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from reusebench import fit
from reusebench.curves import CurveMatrix, curve_matrix, run_keys

DEFAULT_DELTA = 5
DEFAULT_FIT_POINTS = (10, 15, 20)
MATRIX_COLUMNS = ("train_loss", "test_loss", "epoch_seconds", "gpu_mem_max_mb",
                  "gpu_util_mean_pct")


def masked_sum(values: np.ndarray, include: np.ndarray) -> np.ndarray:
    """Row sums over ``include``; NaN for a row where an included value is not finite."""
    total = np.where(include, values, 0.0).sum(axis=1)
    broken = (include & ~np.isfinite(values)).any(axis=1)
    return np.where(broken, np.nan, total)


def masked_reduce(values: np.ndarray, include: np.ndarray, how: str) -> np.ndarray:
    """Row max or mean over included finite values; NaN for a row with none."""
    usable = include & np.isfinite(values)
    count = usable.sum(axis=1)
    if how == "max":
        reduced = np.where(usable, values, -np.inf).max(axis=1)
    elif how == "mean":
        reduced = np.where(usable, values, 0.0).sum(axis=1) / np.maximum(count, 1)
    else:
        raise ValueError(f"unknown reduction {how!r}")
    return np.where(count > 0, reduced, np.nan)


def model_error(test_loss: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """M_er (Eq. 1) and the position of its first occurrence (-1 where no finite loss)."""
    usable = valid & np.isfinite(test_loss)
    candidates = np.where(usable, test_loss, np.inf)
    position = candidates.argmin(axis=1)  # argmin returns the first of tied minima
    has_value = usable.any(axis=1)
    m_er = np.where(has_value, candidates[np.arange(len(candidates)), position], np.nan)
    return m_er, np.where(has_value, position, -1)


def epoch_at(epoch: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Epoch number at a per-run position (NaN where position is -1)."""
    picked = epoch[np.arange(len(epoch)), np.maximum(position, 0)]
    return np.where(position >= 0, picked, np.nan)


def stability(test_loss: np.ndarray, epoch: np.ndarray, valid: np.ndarray, m_er: np.ndarray,
              ep_star: np.ndarray, delta: int = DEFAULT_DELTA) -> tuple[np.ndarray, np.ndarray]:
    """M_stab (Eq. 2): sum of H_test - M_er over epochs in [ep*-δ, ep*+δ] ∩ [1, EP].

    Returns the sum and the window length actually used (clipped at the curve's ends).
    """
    in_window = valid & (np.abs(epoch - ep_star[:, None]) <= delta)
    window_length = in_window.sum(axis=1)
    m_stab = masked_sum(test_loss - m_er[:, None], in_window)
    no_minimum = ~np.isfinite(m_er)
    return np.where(no_minimum, np.nan, m_stab), np.where(no_minimum, 0, window_length)


def speed(ep_star: np.ndarray, n_epochs: np.ndarray, epoch_seconds: np.ndarray,
          valid: np.ndarray) -> np.ndarray:
    """T(M_er) (Eq. 3): ep* × (1/EP) × total training seconds."""
    total_seconds = masked_sum(epoch_seconds, valid)
    return ep_star / n_epochs * total_seconds


def representation(train_loss: np.ndarray, test_loss: np.ndarray,
                   valid: np.ndarray) -> np.ndarray:
    """D_re (Eq. 7): sum over epochs of H_train + H_test."""
    return masked_sum(train_loss + test_loss, valid)


def uniformity(train_loss: np.ndarray, test_loss: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """D_unif (Eq. 8): Pearson correlation of H_train and H_test over a run's epochs.

    NaN when either curve is constant, has fewer than two epochs, or is not finite.
    """
    count = valid.sum(axis=1)
    broken = (valid & ~(np.isfinite(train_loss) & np.isfinite(test_loss))).any(axis=1)
    safe_count = np.maximum(count, 1)
    train_dev = np.where(valid, train_loss - masked_sum(train_loss, valid)[:, None]
                         / safe_count[:, None], 0.0)
    test_dev = np.where(valid, test_loss - masked_sum(test_loss, valid)[:, None]
                        / safe_count[:, None], 0.0)
    covariance = (train_dev * test_dev).sum(axis=1)
    spread = np.sqrt((train_dev**2).sum(axis=1) * (test_dev**2).sum(axis=1))
    scale = np.maximum(np.abs(np.where(valid, train_loss, 0)).max(axis=1),
                       np.abs(np.where(valid, test_loss, 0)).max(axis=1))
    constant = spread <= 1e-12 * np.maximum(scale, 1e-300) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.clip(covariance / spread, -1.0, 1.0)
    return np.where(broken | (count < 2) | constant, np.nan, rho)


def predictability(epoch: np.ndarray, test_loss: np.ndarray, valid: np.ndarray,
                   fit_points: Sequence[int] = DEFAULT_FIT_POINTS) -> pd.DataFrame:
    """Δ(fit; m, N) (Eq. 5) for m ∈ {pw, exp} and each N, with fitted (a, b) and status.

    Each model is fitted to the first N test-loss points; Δ sums abs(H_test - Ĥ) over
    all the run's epochs. Runs with fewer than N epochs get NaN and ``too_short``.
    The six fits are independent, so they run in threads (NumPy releases the GIL).
    """
    all_finite = ~(valid & ~np.isfinite(test_loss)).any(axis=1)
    jobs = [(model, n_points) for n_points in fit_points for model in fit.MODELS]
    with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
        results = pool.map(lambda job: _one_fit(*job, epoch, test_loss, valid), jobs)
        columns = {}
        for (model, n_points), (delta, result) in zip(jobs, results, strict=True):
            name = f"{model}_{n_points}"
            columns[f"delta_fit_{name}"] = np.where(all_finite, delta, np.nan)
            columns[f"fit_{name}_a"], columns[f"fit_{name}_b"] = result.a, result.b
            columns[f"fit_{name}_status"] = result.status
    table = pd.DataFrame(columns)
    deltas = table[[f"delta_fit_{model}_{n}" for model, n in jobs]]
    has_delta = deltas.notna().any(axis=1)
    table["delta_fit_min"] = deltas.min(axis=1, skipna=True)
    best = deltas.fillna(np.inf).to_numpy().argmin(axis=1)
    names = np.array([f"{model}_{n}" for model, n in jobs])
    table["delta_fit_best"] = np.where(has_delta, names[best], None)
    return table


def _one_fit(model: str, n_points: int, epoch: np.ndarray, test_loss: np.ndarray,
             valid: np.ndarray) -> tuple[np.ndarray, fit.FitResult]:
    """Δ(fit) and the fit of one (model, N) for every run long enough to have N epochs.

    Δ of runs with a non-finite loss is masked to NaN by the caller, so here the sum
    only has to skip padding.
    """
    n_runs = len(valid)
    long_enough = (valid[:, :n_points].sum(axis=1) == n_points if valid.shape[1] >= n_points
                   else np.zeros(n_runs, dtype=bool))
    rows = slice(None) if long_enough.all() else np.flatnonzero(long_enough)
    a, b = np.full(n_runs, np.nan), np.full(n_runs, np.nan)
    status = np.full(n_runs, "too_short", dtype=object)
    delta = np.full(n_runs, np.nan)
    if long_enough.any():
        result = fit.fit_curves(model, epoch[rows, :n_points], test_loss[rows, :n_points])
        a[rows], b[rows], status[rows] = result.a, result.b, result.status
        predicted = fit.predict(model, result.a, result.b, epoch[rows])
        predicted -= test_loss[rows]
        np.abs(predicted, out=predicted)
        predicted[~valid[rows]] = 0.0
        delta[rows] = predicted.sum(axis=1)
    return delta, fit.FitResult(a, b, status)


def per_run_metrics(curves: pd.DataFrame, delta: int = DEFAULT_DELTA,
                    fit_points: Sequence[int] = DEFAULT_FIT_POINTS) -> pd.DataFrame:
    """The per-run metrics table (run keys + metric columns) of a validated curve table."""
    matrix = curve_matrix(curves, MATRIX_COLUMNS)
    return pd.concat([run_keys(curves), metrics_of_matrix(matrix, delta, fit_points)], axis=1)


def metrics_of_matrix(matrix: CurveMatrix, delta: int = DEFAULT_DELTA,
                      fit_points: Sequence[int] = DEFAULT_FIT_POINTS) -> pd.DataFrame:
    """Every per-run metric from padded arrays (the part that scales with the run count)."""
    values, valid, epoch = matrix.values, matrix.valid, matrix.epoch
    train_loss, test_loss = values["train_loss"], values["test_loss"]
    n_epochs = matrix.n_epochs
    m_er, star = model_error(test_loss, valid)
    ep_star = epoch_at(epoch, star)
    m_stab, window = stability(test_loss, epoch, valid, m_er, ep_star, delta)
    finite = np.isfinite(train_loss) & np.isfinite(test_loss)
    table = pd.DataFrame({
        "n_epochs": n_epochs.astype("int64"),
        "diverged": (valid & ~finite).any(axis=1),
        "m_er": m_er,
        "ep_star": pd.array(np.where(np.isfinite(ep_star), ep_star, np.nan), dtype="Int64"),
        "m_stab": m_stab,
        "stab_window": window,
        "t_m_er": speed(ep_star, n_epochs, values["epoch_seconds"], valid),
        "d_re": representation(train_loss, test_loss, valid),
        "d_unif": uniformity(train_loss, test_loss, valid),
        "gpu_max_mem_mb": masked_reduce(values["gpu_mem_max_mb"], valid, "max"),
        "gpu_avg_util_pct": masked_reduce(values["gpu_util_mean_pct"], valid, "mean"),
    })
    return pd.concat([table, predictability(epoch, test_loss, valid, fit_points)], axis=1)


def coefficient_of_variation(images: Iterable[np.ndarray]) -> float:
    """CV (Eq. 10): mean over images of σ_i / μ_i of their pixel intensities."""
    ratios = []
    for image in images:
        pixels = np.asarray(image, dtype="float64").ravel()
        mean = pixels.mean()
        ratios.append(pixels.std() / mean if mean != 0 else np.nan)
    if not ratios:
        raise ValueError("coefficient_of_variation needs at least one image")
    return float(np.mean(ratios))
