"""Batched, bounded Levenberg–Marquardt fits of one curve family to many runs at once.

The same damped Gauss–Newton scheme as :mod:`reusebench.core.fit` (only unconverged runs are
iterated, a rejected step raises the damping), generalised to p parameters, box bounds
(a step is clipped into the box; a parameter on its bound whose gradient points out of
the box is held for that step) and missing points (weight 0). Squared error is minimised
in the loss scale. :func:`laplace` gives the Gaussian (Laplace) approximation of each
run's parameter posterior under flat priors, used for predictive draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reusebench.core.forecast.families import Family

DEFAULT_MAX_ITER = 60
DEFAULT_TOL = 1e-4


@dataclass(frozen=True)
class FamilyFit:
    """Fitted θ (runs × p, NaN where not ok), SSE, points used and a status word per run."""

    theta: np.ndarray
    sse: np.ndarray
    n_points: np.ndarray
    status: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        return np.isin(self.status, ("ok", "max_iter"))


def fit_family(family: Family, x: np.ndarray, y: np.ndarray, weight: np.ndarray,
               start: np.ndarray | None = None, *, min_points: int | None = None,
               max_iter: int = DEFAULT_MAX_ITER, tol: float = DEFAULT_TOL) -> FamilyFit:
    """Least-squares fit of ``family`` to every row of y (runs × points) at epochs x.

    weight (runs × points) is 1 for a point to fit and 0 for a missing one. Runs with fewer
    than ``min_points`` (default p + 2, so the noise has two degrees of freedom) points get
    status ``too_few_points``; non-finite results get ``failed``; runs that used up
    ``max_iter`` keep their parameters with status ``max_iter``. The iteration stops when a
    step lowers the SSE by less than ``tol`` × the residual variance SSE/(points − p): a
    change far below one noise variance carries no information about the curve.
    """
    y = np.where(weight > 0, y, 0.0)
    n_points = weight.sum(axis=1)
    min_points = family.n_params + 2 if min_points is None else min_points
    rows = np.flatnonzero(n_points >= min_points)
    theta = np.full((len(y), family.n_params), np.nan)
    sse = np.full(len(y), np.nan)
    iterations = np.zeros(len(y), dtype=int)
    if rows.size:
        first = _starts(family, x, y[rows], weight[rows], None if start is None else start[rows])
        theta[rows], sse[rows], iterations[rows] = _levenberg_marquardt(
            family, x, y[rows], weight[rows], first, max_iter, tol)
    finite = np.isfinite(theta).all(axis=1) & np.isfinite(sse)
    status = np.where(n_points < min_points, "too_few_points",
                      np.where(~finite, "failed",
                               np.where(iterations >= max_iter, "max_iter", "ok")))
    theta[~finite] = np.nan
    return FamilyFit(theta, np.where(finite, sse, np.nan), n_points, status.astype(object))


def _starts(family: Family, x: np.ndarray, y: np.ndarray, weight: np.ndarray,
            given: np.ndarray | None) -> np.ndarray:
    """The given starts where finite (e.g. a previous fit), else the family's own."""
    if given is None:
        return family.start(x, y, weight)
    missing = ~np.isfinite(given).all(axis=1)
    if missing.any():
        given = given.copy()
        given[missing] = family.start(x, y[missing], weight[missing])
    return given


def _row_sse(residual: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return np.einsum("ij,ij->i", residual, residual)


def _sse(family: Family, x: np.ndarray, theta: np.ndarray, y: np.ndarray,
         weight: np.ndarray | None) -> np.ndarray:
    """Weighted SSE at θ (overflow gives inf: a rejected step)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        residual = family.values(x, theta) - y
        if weight is not None:
            residual *= weight
    return _row_sse(residual)


def _normal_equations(family: Family, x: np.ndarray, theta: np.ndarray, y: np.ndarray,
                      weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """JᵀJ and Jᵀr at θ (weighted); only these are kept between iterations, not J."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        value, jac = family.evaluate(x, theta, True)
        residual = value - y
        if weight is not None:
            residual *= weight
            jac *= weight[:, :, None]
        jac_t = jac.transpose(0, 2, 1)
        return jac_t @ jac, (jac_t @ residual[:, :, None])[:, :, 0]


def _levenberg_marquardt(family: Family, x: np.ndarray, y: np.ndarray, weight: np.ndarray,
                         theta: np.ndarray, max_iter: int,
                         tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lower, upper = family.lower, family.upper
    theta = np.clip(theta, lower, upper)
    relative_tol = tol / np.maximum(weight.sum(axis=1) - family.n_params, 1.0)
    negligible = 1e-28 * (weight * y * y).sum(axis=1)
    weight = None if (weight == 1).all() else weight
    sse = _sse(family, x, theta, y, weight)
    normal, gradient = _normal_equations(family, x, theta, y, weight)
    damping = np.full(len(y), 1e-3)
    iterations = np.zeros(len(y), dtype=int)
    active = np.flatnonzero(np.isfinite(sse))
    for _ in range(max_iter):
        if active.size == 0:
            break
        current = theta[active]
        step, usable = _damped_step(normal[active], gradient[active], damping[active], current,
                                    lower, upper)
        trial = np.clip(current + step, lower, upper)
        weights = None if weight is None else weight[active]
        trial_sse = _sse(family, x, trial, y[active], weights)
        old_sse = sse[active]
        better = np.isfinite(trial_sse) & (trial_sse < old_sse)
        improved = active[better]
        theta[improved], sse[improved] = trial[better], trial_sse[better]
        normal[improved], gradient[improved] = _normal_equations(
            family, x, trial[better], y[improved], None if weight is None else weight[improved])
        gain = np.where(better, old_sse - trial_sse, 0.0)
        damping[active] = np.where(better, damping[active] / 3.0, damping[active] * 4.0)
        iterations[active] += 1
        moved = np.abs(trial - current).max(axis=1) <= 1e-9 * (np.abs(current).max(axis=1) + 1)
        done = ((better & (gain <= relative_tol[active] * np.maximum(sse[active], 1e-300)))
                | (sse[active] <= negligible[active]) | moved | ~usable
                | (damping[active] > 1e14))
        iterations[active[done]] = np.minimum(iterations[active[done]], max_iter - 1)
        active = active[~done]
    return theta, sse, iterations


def _damped_step(normal: np.ndarray, gradient: np.ndarray, damping: np.ndarray,
                 theta: np.ndarray, lower: np.ndarray,
                 upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Marquardt step per run; parameters pinned at a bound they push against stay put."""
    usable = np.isfinite(normal).all(axis=(1, 2)) & np.isfinite(gradient).all(axis=1)
    pinned = ((theta <= lower) & (gradient > 0)) | ((theta >= upper) & (gradient < 0))
    pinned |= ~usable[:, None]
    diagonal = np.diagonal(normal, axis1=1, axis2=2)
    scale = diagonal + 1e-10 * diagonal.max(axis=1, keepdims=True) + 1e-30
    keep = ~pinned
    system = np.where((keep[:, :, None] & keep[:, None, :]) & usable[:, None, None], normal, 0.0)
    eye = np.eye(theta.shape[1], dtype=bool)
    system[:, eye] += np.where(pinned, 1.0, damping[:, None] * scale)
    step = -np.linalg.solve(system, np.where(pinned, 0.0, gradient)[:, :, None])[:, :, 0]
    return np.where(np.isfinite(step), step, 0.0), usable


@dataclass(frozen=True)
class Laplace:
    """Per-run σ (noise) and S with Cov(θ) ≈ S Sᵀ = σ² (JᵀJ)⁻¹ (a pseudo-inverse)."""

    sigma: np.ndarray
    sqrt_cov: np.ndarray

    def predictive_variance(self, jac: np.ndarray) -> np.ndarray:
        """Variance of a new observation at points whose Jacobian is jac (runs × k × p)."""
        spread = jac @ self.sqrt_cov
        return self.sigma[:, None] ** 2 + (spread * spread).sum(axis=2)


def laplace(family: Family, x: np.ndarray, weight: np.ndarray, fit: FamilyFit) -> Laplace:
    """Laplace approximation at the fitted θ; NaN for runs whose fit is not ok.

    Directions the data do not determine (eigenvalues of JᵀJ below 1e-10 of the largest)
    get zero variance rather than an infinite one: those parameters do not change the
    fitted curve, and draws along them would only add noise where the curve is flat.
    """
    theta = np.where(fit.ok[:, None], fit.theta, family.lower.clip(0, 1))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        jac = family.evaluate(x, theta, True)[1] * weight[:, :, None]
    normal = jac.transpose(0, 2, 1) @ jac
    bad = ~np.isfinite(normal).all(axis=(1, 2)) | ~fit.ok
    normal[bad] = np.eye(family.n_params)
    eigenvalues, eigenvectors = np.linalg.eigh(normal)
    floor = 1e-10 * eigenvalues.max(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse_root = np.where(eigenvalues > floor, 1.0 / np.sqrt(eigenvalues), 0.0)
    dof = np.maximum(fit.n_points - family.n_params, 1)
    sigma = np.sqrt(np.where(fit.ok, fit.sse / dof, np.nan))
    sqrt_cov = sigma[:, None, None] * eigenvectors * inverse_root[:, None, :]
    return Laplace(sigma, sqrt_cov)
