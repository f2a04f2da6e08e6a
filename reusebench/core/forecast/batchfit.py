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
        used = weight[rows].any(axis=0)  # points no run fits (held out) are not evaluated
        theta[rows], sse[rows], iterations[rows] = _levenberg_marquardt(
            family, x[used], y[rows][:, used], weight[rows][:, used], first, max_iter, tol)
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
    """JᵀJ and Jᵀr at θ (weighted); only these are kept between iterations, not J.

    Built from the Jacobian's columns, one dot product per entry of the upper triangle
    (p ≤ 4 here: far cheaper than a stacked J and batched matmul of tiny matrices).
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        value, columns = family.columns(x, theta)
        residual = value - y
        if weight is not None:
            residual *= weight
            columns = [column * weight for column in columns]
        n_params = len(columns)
        normal = np.empty((len(y), n_params, n_params))
        gradient = np.empty((len(y), n_params))
        for a, first in enumerate(columns):
            gradient[:, a] = np.einsum("ij,ij->i", first, residual)
            for b in range(a, n_params):
                normal[:, a, b] = normal[:, b, a] = np.einsum("ij,ij->i", first, columns[b])
        return normal, gradient


def _levenberg_marquardt(family: Family, x: np.ndarray, y: np.ndarray, weight: np.ndarray,
                         theta: np.ndarray, max_iter: int,
                         tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Iterate every run until it stops; the state of the runs still iterating is packed.

    θ, SSE, JᵀJ, Jᵀr, damping and data of the unfinished runs live in arrays of those runs
    only, so an iteration gathers nothing. A run that stops is written back at once; the
    arrays are repacked without the stopped runs once they make up an eighth of them (until
    then a stopped run is carried along and its further values are never written).
    """
    lower, upper = family.lower, family.upper
    theta = np.clip(theta, lower, upper)
    relative_tol = tol / np.maximum(weight.sum(axis=1) - family.n_params, 1.0)
    negligible = 1e-28 * (weight * y * y).sum(axis=1)
    weight = None if (weight == 1).all() else weight
    sse = _sse(family, x, theta, y, weight)
    iterations = np.zeros(len(y), dtype=int)
    index = np.flatnonzero(np.isfinite(sse))
    weights = None if weight is None else weight[index]
    normal, gradient = _normal_equations(family, x, theta[index], y[index], weights)
    state = _State(theta=theta[index], sse=sse[index], normal=normal, gradient=gradient,
                   usable=_finite(normal, gradient), damping=np.full(len(index), 1e-3),
                   count=np.zeros(len(index), dtype=int), y=y[index], weight=weights,
                   relative_tol=relative_tol[index], negligible=negligible[index],
                   index=index, live=np.ones(len(index), dtype=bool))
    for _ in range(max_iter):
        if not state.live.any():
            break
        current, usable = state.theta, state.usable.copy()  # before this step's update
        step = _damped_step(state.normal, state.gradient, usable, state.damping, current,
                            lower, upper)
        trial = np.clip(current + step, lower, upper)
        trial_sse = _sse(family, x, trial, state.y, state.weight)
        old_sse = state.sse
        better = np.isfinite(trial_sse) & (trial_sse < old_sse)
        gain = np.where(better, old_sse - trial_sse, 0.0)
        moved = _row_max(np.abs(trial - current)) <= 1e-9 * (_row_max(np.abs(current)) + 1)
        state.sse = np.where(better, trial_sse, old_sse)
        if better.any():
            rows = np.flatnonzero(better)
            state.theta = np.where(better[:, None], trial, current)
            normal, gradient = _normal_equations(
                family, x, trial[rows], state.y[rows],
                None if state.weight is None else state.weight[rows])
            state.normal[rows], state.gradient[rows] = normal, gradient
            state.usable[rows] = _finite(normal, gradient)
        state.damping = np.where(better, state.damping / 3.0, state.damping * 4.0)
        state.count += 1
        done = ((better & (gain <= state.relative_tol * np.maximum(state.sse, 1e-300)))
                | (state.sse <= state.negligible) | moved | ~usable
                | (state.damping > 1e14)) & state.live
        if done.any():
            finished = state.index[done]
            theta[finished], sse[finished] = state.theta[done], state.sse[done]
            iterations[finished] = np.minimum(state.count[done], max_iter - 1)
            state.live &= ~done
            if 8 * (len(state.live) - np.count_nonzero(state.live)) >= len(state.live):
                state = state.subset(state.live)
    live = state.index[state.live]
    theta[live], sse[live] = state.theta[state.live], state.sse[state.live]
    iterations[live] = state.count[state.live]
    return theta, sse, iterations


def _finite(normal: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """Runs whose JᵀJ and Jᵀr are finite (a step can be solved for)."""
    size = gradient.shape[1]
    finite = np.isfinite(gradient[:, 0])
    for a in range(size):
        finite &= np.isfinite(gradient[:, a])
        for b in range(a, size):
            finite &= np.isfinite(normal[:, a, b])
    return finite


def _row_max(values: np.ndarray) -> np.ndarray:
    """Maximum of each row of a runs × p array (NaN propagates), one column at a time:
    NumPy reduces a short last axis far more slowly than it compares two columns."""
    result = values[:, 0].copy()
    for column in range(1, values.shape[1]):
        np.maximum(result, values[:, column], out=result)
    return result


@dataclass
class _State:
    """Per unfinished run: θ, SSE, JᵀJ, Jᵀr, damping, iterations, data, where it belongs
    (``index``) and whether it is still iterating (``live``)."""

    theta: np.ndarray
    sse: np.ndarray
    normal: np.ndarray
    gradient: np.ndarray
    usable: np.ndarray  # JᵀJ and Jᵀr finite
    damping: np.ndarray
    count: np.ndarray
    y: np.ndarray
    weight: np.ndarray | None
    relative_tol: np.ndarray
    negligible: np.ndarray
    index: np.ndarray
    live: np.ndarray

    def subset(self, keep: np.ndarray) -> _State:
        """The state of the runs ``keep`` selects."""
        return _State(**{name: None if value is None else value[keep]
                         for name, value in vars(self).items()})


def _damped_step(normal: np.ndarray, gradient: np.ndarray, usable: np.ndarray,
                 damping: np.ndarray, theta: np.ndarray, lower: np.ndarray,
                 upper: np.ndarray) -> np.ndarray:
    """Marquardt step per run; parameters pinned at a bound they push against stay put.

    A run whose JᵀJ or Jᵀr is not finite (``usable`` false) gets no step."""
    n_runs, size = theta.shape
    pinned = ((theta <= lower) & (gradient > 0)) | ((theta >= upper) & (gradient < 0))
    pinned |= ~usable[:, None]
    diagonal = np.diagonal(normal, axis1=1, axis2=2)
    scale = diagonal + 1e-10 * _row_max(diagonal)[:, None] + 1e-30
    keep = ~pinned
    system = np.where(keep[:, :, None] & keep[:, None, :], normal, 0.0)
    system.reshape(n_runs, size * size)[:, ::size + 1] += np.where(pinned, 1.0,
                                                                   damping[:, None] * scale)
    step = -_solve_positive(system, np.where(pinned, 0.0, gradient))
    return np.where(np.isfinite(step), step, 0.0)


def _solve_positive(system: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve system · s = rhs per run for symmetric positive definite systems (runs × p × p).

    A Cholesky factorisation written out over the p ≤ 7 columns, vectorised over runs;
    runs whose factorisation breaks down (a pivot not above 0, a non-finite result) are
    solved by LU (``numpy.linalg.solve``) instead.
    """
    size = rhs.shape[1]
    factor: list[list[np.ndarray]] = [[] for _ in range(size)]  # factor[i][k] = L[i, k]
    positive = np.ones(len(rhs), dtype=bool)
    with np.errstate(all="ignore"):
        for j in range(size):
            pivot = system[:, j, j] - sum((factor[j][k] ** 2 for k in range(j)), 0.0)
            positive &= pivot > 0
            root = np.sqrt(np.where(pivot > 0, pivot, 1.0))
            for i in range(j + 1, size):
                factor[i].append((system[:, i, j] - sum((factor[i][k] * factor[j][k]
                                                         for k in range(j)), 0.0)) / root)
            factor[j].append(root)
        forward: list[np.ndarray] = []
        for i in range(size):
            forward.append((rhs[:, i] - sum((factor[i][k] * forward[k] for k in range(i)),
                                            0.0)) / factor[i][i])
        solution = np.empty_like(rhs)
        for i in reversed(range(size)):
            solution[:, i] = (forward[i] - sum((factor[k][i] * solution[:, k]
                                                for k in range(i + 1, size)), 0.0)) / factor[i][i]
    broken = ~positive | ~np.isfinite(solution).all(axis=1)
    if broken.any():
        try:
            solution[broken] = np.linalg.solve(system[broken], rhs[broken][:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # singular: no step for those runs
            solution[broken] = 0.0
    return solution


@dataclass(frozen=True)
class Laplace:
    """Per-run σ (noise) and S with Cov(θ) ≈ S Sᵀ = σ² (JᵀJ)⁻¹ (a pseudo-inverse)."""

    sigma: np.ndarray
    sqrt_cov: np.ndarray

    def predictive_variance(self, jac: np.ndarray) -> np.ndarray:
        """Variance of a new observation at points whose Jacobian is jac (runs × k × p)."""
        spread = np.einsum("nkp,npq->nkq", jac, self.sqrt_cov)
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
    normal = np.einsum("nkp,nkq->npq", jac, jac)
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
