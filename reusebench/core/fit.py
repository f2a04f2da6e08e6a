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
        return a * np.exp(rate * basis(model, x))


def fit_curves(model: str, x: np.ndarray, y: np.ndarray, *, max_iter: int = 100,
               tol: float = 1.49012e-08) -> FitResult:
    """Fit ``model`` to each row of y (runs × points) at abscissae x, all points used.

    Rows with a non-finite or non-positive x (PW), or a non-finite y, get NaN and
    status ``nonfinite_input``; rows whose result is not finite get ``failed``;
    rows that hit max_iter keep their parameters with status ``max_iter``. ``tol`` is the
    relative decrease of the squared error that stops the iteration (scipy's default ftol).
    """
    g = basis(model, x)
    y = np.asarray(y, dtype="float64")
    usable = np.isfinite(g).all(axis=1) & np.isfinite(y).all(axis=1)
    log_a = np.full(len(y), np.nan)
    c = np.full(len(y), np.nan)
    iterations = np.zeros(len(y), dtype=int)
    if usable.any():
        rows = np.flatnonzero(usable)
        start_log_a, start_c = _log_space_start(g[rows], y[rows])
        fitted = _levenberg_marquardt(g[rows], y[rows], start_log_a, start_c, max_iter, tol)
        log_a[rows], c[rows], iterations[rows] = fitted
    with np.errstate(over="ignore"):  # an overflowing fit is reported as "failed" below
        a, b = np.exp(log_a), (c if model == "pw" else np.exp(c))
    finite = np.isfinite(a) & np.isfinite(b)
    status = np.where(~usable, "nonfinite_input",
                      np.where(~finite, "failed",
                               np.where(iterations >= max_iter, "max_iter", "ok")))
    a = np.where(finite, a, np.nan)
    b = np.where(finite, b, np.nan)
    return FitResult(a, b, status.astype(object))


def _log_space_start(g: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear regression of ln y on g per row: the exact answer for noise-free curves."""
    log_y = np.log(np.maximum(y, np.finfo("float64").tiny))
    g_mean = g.mean(axis=1, keepdims=True)
    log_y_mean = log_y.mean(axis=1, keepdims=True)
    g_centered = g - g_mean
    spread = (g_centered**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (g_centered * (log_y - log_y_mean)).sum(axis=1) / spread
    slope = np.where(spread > 0, slope, 0.0)
    intercept = log_y_mean[:, 0] - slope * g_mean[:, 0]
    return intercept, slope


def _model_values(g: np.ndarray, log_a: np.ndarray, c: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):  # overflow gives inf: a rejected step
        return np.exp(log_a[:, None] + c[:, None] * g)


def _levenberg_marquardt(g: np.ndarray, y: np.ndarray, log_a: np.ndarray, c: np.ndarray,
                         max_iter: int, tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Damped Gauss-Newton on (ln a, c) for every row; only unconverged rows are iterated.

    When all rows share one abscissa (the usual epochs 1..N), sums over points become
    matrix products with (1, g, g²), several times cheaper than elementwise reductions.
    """
    shared = bool((g == g[0]).all())
    log_a, c = log_a.copy(), c.copy()
    damping = np.full(len(y), 1e-3)
    iterations = np.zeros(len(y), dtype=int)
    fitted = _model_values(g[0] if shared else g, log_a, c)
    sse = ((fitted - y) ** 2).sum(axis=1)
    negligible = 1e-28 * (y * y).sum(axis=1)
    g_scale = np.abs(g).max(axis=1)
    active = np.arange(len(y))
    for _ in range(max_iter):
        if active.size == 0:
            break
        ga = g[0] if shared else g[active]
        ya, fa = y[active], fitted[active]
        h11, h12, h22, r1, r2 = _normal_equations(ga, fa, fa - ya)
        lam = damping[active]
        h11d, h22d = h11 * (1 + lam), h22 * (1 + lam)
        det = h11d * h22d - h12 * h12
        with np.errstate(divide="ignore", invalid="ignore"):
            step_log_a = -(h22d * r1 - h12 * r2) / det
            step_c = -(h11d * r2 - h12 * r1) / det
        trial_log_a, trial_c = log_a[active] + step_log_a, c[active] + step_c
        trial_fit = _model_values(ga, trial_log_a, trial_c)
        trial_fit -= ya
        with np.errstate(over="ignore", invalid="ignore"):
            trial_sse = np.einsum("ij,ij->i", trial_fit, trial_fit)
        trial_fit += ya
        better = np.isfinite(trial_sse) & (trial_sse < sse[active])
        improved = active[better]
        log_a[improved], c[improved] = trial_log_a[better], trial_c[better]
        fitted[improved] = trial_fit[better]
        gain = sse[active] - np.where(better, trial_sse, sse[active])
        sse[improved] = trial_sse[better]
        damping[active] = np.where(better, lam / 3.0, lam * 4.0)
        iterations[active] += 1
        step_size = np.abs(step_log_a) + np.abs(step_c) * g_scale[active]
        done = ((better & (gain <= tol * np.maximum(sse[active], 1e-300)))
                | (sse[active] <= negligible[active]) | (step_size <= tol)
                | ~np.isfinite(det) | (damping[active] > 1e16))
        iterations[active[done]] = np.minimum(iterations[active[done]], max_iter - 1)
        active = active[~done]
    return log_a, c, iterations


def _normal_equations(g: np.ndarray, fitted: np.ndarray, residual: np.ndarray):
    """Entries of JᵀJ and Jᵀr for the Jacobian columns (f, g·f); g is one row if shared."""
    squared, weighted = fitted * fitted, fitted * residual
    if g.ndim == 1:
        powers = np.stack([np.ones_like(g), g, g * g], axis=1)
        h11, h12, h22 = (squared @ powers).T
        r1, r2 = (weighted @ powers[:, :2]).T
        return h11, h12, h22, r1, r2
    return (squared.sum(axis=1), (g * squared).sum(axis=1), (g * g * squared).sum(axis=1),
            weighted.sum(axis=1), (g * weighted).sum(axis=1))
