"""Batched least-squares fits of convergence models to many loss curves at once.

Both models are ``y = a * exp(c * g(x))``: the power model PW ``a * x**b`` has
``g = ln x, c = b``; the exponential model EXP ``a * b**x`` has ``g = x, c = ln b``.
The fit minimises squared error in the loss scale (not the log scale) with a
Levenberg-Marquardt iteration vectorised over runs, started from the log-space
linear-regression solution. Parameters are ``(ln a, c)`` so ``a > 0`` and, for
EXP, ``b > 0`` hold for the decreasing positive curves these models describe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODELS = ("pw", "exp")
# rows × points iterated together: the working arrays of a fit stay in the CPU cache (the
# fits of 100,000 runs take a third of the time they take on whole-table arrays)
BLOCK_VALUES = 1 << 16


@dataclass(frozen=True)
class FitResult:
    """Fitted parameters per run (NaN where the fit failed) and a status word each."""

    a: np.ndarray
    b: np.ndarray
    status: np.ndarray


def basis(model: str, x: np.ndarray) -> np.ndarray:
    """g(x) of the model: ln x for PW, x for EXP."""
    if model == "pw":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)
    if model == "exp":
        return np.asarray(x, dtype="float64")
    raise ValueError(f"unknown convergence model {model!r}; choose one of {MODELS}")


def predict(model: str, a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Model values at x (runs × points) for per-run parameters a, b (EXP needs b > 0)."""
    a = np.asarray(a, dtype="float64")[:, None]
    b = np.asarray(b, dtype="float64")[:, None]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        rate = b if model == "pw" else np.log(b)
        row = _common_row(x)  # all rows of x one (the usual epochs 1..N): g of that row once
        if row is not None and np.broadcast_shapes(a.shape, np.shape(x))[0] == len(a):
            x = row
        values = rate * basis(model, x)  # one array, then worked on in place
        np.exp(values, out=values)
        values *= a
        return values


def fit_curves(model: str, x: np.ndarray, y: np.ndarray, *, max_iter: int = 100,
               tol: float = 1.49012e-08) -> FitResult:
    """Fit ``model`` to each row of y (runs × points) at abscissae x, all points used.

    Rows with a non-finite or non-positive x (PW), or a non-finite y, get NaN and
    status ``nonfinite_input``; rows whose result is not finite get ``failed``;
    rows that hit max_iter keep their parameters with status ``max_iter``. ``tol`` is the
    relative decrease of the squared error that stops the iteration (scipy's default ftol).
    """
    y = np.asarray(y, dtype="float64")
    x_row = _common_row(x)
    if x_row is not None:  # one abscissa for all rows (the usual epochs 1..N): g of one row
        g = basis(model, x_row)
        usable = np.isfinite(y).all(axis=1) & np.isfinite(g).all()
    else:
        g = basis(model, x)
        usable = np.isfinite(g).all(axis=1) & np.isfinite(y).all(axis=1)
    log_a = np.full(len(y), np.nan)
    c = np.full(len(y), np.nan)
    iterations = np.zeros(len(y), dtype=int)
    rows = np.flatnonzero(usable)
    if rows.size:
        every = rows.size == len(y)
        y_rows = y if every else y[rows]
        if x_row is None:
            g = g if every else g[rows]
            if (g == g[0]).all():  # the usable rows share one
                g = g[0]
        log_a[rows], c[rows], iterations[rows] = _levenberg_marquardt(
            g, y_rows, max_iter, tol)
    with np.errstate(over="ignore"):  # an overflowing fit is reported as "failed" below
        a, b = np.exp(log_a), (c if model == "pw" else np.exp(c))
    finite = np.isfinite(a) & np.isfinite(b)
    status = np.full(len(y), "ok", dtype=object)  # later words take precedence
    status[iterations >= max_iter] = "max_iter"
    status[~finite] = "failed"
    status[~usable] = "nonfinite_input"
    a = np.where(finite, a, np.nan)
    b = np.where(finite, b, np.nan)
    return FitResult(a, b, status)


def _common_row(x: np.ndarray) -> np.ndarray | None:
    """The row every row of the 2-D ``x`` equals, or None."""
    x = np.asarray(x)
    if x.ndim != 2 or not len(x):
        return None
    if x.strides[0] == 0 or (x == x[0]).all():  # broadcast rows, or equal ones
        return x[0]
    return None


def _log_space_start(g: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear regression of ln y on g per row: the exact answer for noise-free curves.
    ``g`` is one row per row of y, or one row for all."""
    log_y = np.log(np.maximum(y, np.finfo("float64").tiny))
    g_mean = g.mean(axis=-1, keepdims=True)
    log_y_mean = log_y.mean(axis=1, keepdims=True)
    g_centered = g - g_mean
    spread = (g_centered**2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (g_centered * (log_y - log_y_mean)).sum(axis=1) / spread
    slope = np.where(spread > 0, slope, 0.0)
    intercept = log_y_mean[:, 0] - slope * g_mean[..., 0]
    return intercept, slope


def _model_values(g: np.ndarray, log_a: np.ndarray, c: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):  # overflow gives inf: a rejected step
        values = c[:, None] * g  # one array, then worked on in place
        values += log_a[:, None]
        np.exp(values, out=values)
        return values


class _WorkingSet:
    """The rows being iterated and their state, packed together (see _levenberg_marquardt)."""

    def __init__(self, g: np.ndarray, y: np.ndarray, rows: np.ndarray):
        self.rows = rows  # indices into the whole fit
        self.g = g  # one abscissa for all rows (1-D), or one per row
        self.y = y
        self.log_a, self.c = _log_space_start(g, y)
        self.fitted = _model_values(g, self.log_a, self.c)
        self.sse = ((self.fitted - y) ** 2).sum(axis=1)
        self.negligible = 1e-28 * (y * y).sum(axis=1)
        self.g_scale = np.abs(g).max(axis=-1)  # one number where g is shared
        self.damping = np.full(len(rows), 1e-3)
        self.steps = np.zeros(len(rows), dtype=int)
        self._state = ["rows", "y", "log_a", "c", "fitted", "sse", "negligible", "damping",
                       "steps"] + (["g", "g_scale"] if g.ndim == 2 else [])

    def __len__(self) -> int:
        return len(self.rows)

    def keep(self, kept: np.ndarray) -> None:
        for name in self._state:
            setattr(self, name, getattr(self, name)[kept])

    def extend(self, other: _WorkingSet) -> None:
        for name in self._state:
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))


def _levenberg_marquardt(g: np.ndarray, y: np.ndarray, max_iter: int,
                         tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Damped Gauss-Newton on (ln a, c) for every row, from the log-space start.

    The rows being iterated form a working set of at most BLOCK_VALUES values, its state
    packed together: rows leave it as they converge (or reach max_iter) and fresh rows join
    it once it is half empty, so every step works on dense arrays that stay in the CPU cache
    and the slow rows of the whole fit finish together. When all rows share one abscissa
    (``g`` one row: the usual epochs 1..N), sums over points become matrix products with
    (1, g, g²), several times cheaper than elementwise reductions.
    """
    count = len(y)
    log_a, c = np.full(count, np.nan), np.full(count, np.nan)
    iterations = np.full(count, max_iter)  # rows that never converge ran them all
    if max_iter <= 0:
        log_a[:], c[:] = _log_space_start(g, y)
        return log_a, c, iterations
    powers = np.stack([np.ones_like(g), g, g * g], axis=1) if g.ndim == 1 else None
    block = max(1, BLOCK_VALUES // max(1, y.shape[1]))
    work, joined = None, 0
    while True:
        if joined < count and (work is None or len(work) <= block // 2):
            end = min(count, joined + block - (0 if work is None else len(work)))
            fresh = _WorkingSet(g if g.ndim == 1 else g[joined:end], y[joined:end],
                                np.arange(joined, end))
            joined = end
            if work is None:
                work = fresh
            else:
                work.extend(fresh)
        if work is None or not len(work):
            break
        done = _step(work, powers, tol)
        work.steps += 1
        leaving = done | (work.steps >= max_iter)
        if leaving.any():
            finished = work.rows[leaving]
            log_a[finished], c[finished] = work.log_a[leaving], work.c[leaving]
            iterations[work.rows[done]] = np.minimum(work.steps[done], max_iter - 1)
            work.keep(~leaving)
    return log_a, c, iterations


def _step(work: _WorkingSet, powers: np.ndarray | None, tol: float) -> np.ndarray:
    """One damped Gauss-Newton step of every row of the working set; which rows are done."""
    h11, h12, h22, r1, r2 = _normal_equations(work.g, work.fitted, work.y, powers)
    damping = work.damping
    boost = 1 + damping
    h11d, h22d = h11 * boost, h22 * boost
    det = h11d * h22d - h12 * h12
    with np.errstate(divide="ignore", invalid="ignore"):
        step_log_a = -(h22d * r1 - h12 * r2) / det
        step_c = -(h11d * r2 - h12 * r1) / det
    trial_log_a, trial_c = work.log_a + step_log_a, work.c + step_c
    trial_fit = _model_values(work.g, trial_log_a, trial_c)
    trial_fit -= work.y
    with np.errstate(over="ignore", invalid="ignore"):
        trial_sse = np.einsum("ij,ij->i", trial_fit, trial_fit)
    trial_fit += work.y
    sse = work.sse
    better = np.isfinite(trial_sse) & (trial_sse < sse)
    work.log_a = np.where(better, trial_log_a, work.log_a)
    work.c = np.where(better, trial_c, work.c)
    worse = np.flatnonzero(~better)  # usually few: the trial values become the fitted ones
    trial_fit[worse] = work.fitted[worse]
    work.fitted = trial_fit
    work.sse = np.where(better, trial_sse, sse)
    gain, sse = sse - work.sse, work.sse
    work.damping = damping = np.where(better, damping / 3.0, damping * 4.0)
    step_size = np.abs(step_log_a) + np.abs(step_c) * work.g_scale
    return ((better & (gain <= tol * np.maximum(sse, 1e-300)))
            | (sse <= work.negligible) | (step_size <= tol)
            | ~np.isfinite(det) | (damping > 1e16))


def _normal_equations(g: np.ndarray, fitted: np.ndarray, y: np.ndarray,
                      powers: np.ndarray | None):
    """Entries of JᵀJ and Jᵀr for the Jacobian columns (f, g·f), r = f - y; with ``powers``
    (1, g, g²) of the one abscissa all rows share, all five sums are one matrix product."""
    count = len(fitted)
    terms = np.empty((2 * count, fitted.shape[1]))  # f², then f·r
    squared, weighted = terms[:count], terms[count:]
    np.multiply(fitted, fitted, out=squared)
    np.subtract(fitted, y, out=weighted)
    weighted *= fitted
    if powers is not None:
        sums = terms @ powers
        return sums[:count, 0], sums[:count, 1], sums[:count, 2], sums[count:, 0], sums[count:, 1]
    return (squared.sum(axis=1), (g * squared).sum(axis=1), (g * g * squared).sum(axis=1),
            weighted.sum(axis=1), (g * weighted).sum(axis=1))
