"""Parametric learning-curve families, mirrored to decreasing losses, vectorised over runs.

Domhan, Springenberg & Hutter (IJCAI 2015) model an *increasing* accuracy curve with
eleven families. A loss (or an error 1 − accuracy) decreases, so each family is used
mirrored, ``loss = asymptote + (decreasing part)``. Mirrored, several of the eleven coincide:

- exp4 ``c − exp(b − a·x^α)``, Janoschek ``α − (α−β)·exp(−κ·x^δ)`` and Weibull
  ``α − (α−β)·exp(−(κx)^δ)`` are one family, ``c + a·exp(−(x/e^m)^δ)`` (here ``weibull``);
- hill3 ``y·x^η/(κ^η + x^η)`` mirrored is log-power ``a/(1 + (x/e^b)^c)``;
- log-log-linear ``log(a·log x + b)`` has no asymptote and turns negative mirrored, so it
  is left out;
- pow4 ``c − (a·x + b)^-α`` is written ``c + a'·(x + s)^-α`` (a' = a^-α, s = b/a), the same
  curves with far better conditioned parameters.

That leaves seven distinct families. Every one is ``f(x; θ)`` for epochs x (one shared
1-D abscissa) and per-run parameters θ (runs × p), with its Jacobian, box bounds (for
numerical safety and to keep the decreasing shape: scales, rates and asymptotes ≥ 0) and
a start found by a small grid over the nonlinear parameters with the linear ones
(asymptote c ≥ 0, scale a ≥ 0) solved in closed form. ilog2 uses ``log(x + 1)`` because
``1/log x`` is infinite at epoch 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

INF = np.inf
Evaluation = tuple[np.ndarray, np.ndarray | None]
# f(x; θ) and, when asked, the Jacobian's columns ∂f/∂θ_k (each broadcastable to f's shape)
Columns = tuple[np.ndarray, list[np.ndarray] | None]


@dataclass(frozen=True)
class Family:
    """One curve family: its formula, parameter names, bounds and start."""

    name: str
    formula: str
    params: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    function: Callable[[np.ndarray, np.ndarray, bool], Columns]
    start: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]

    @property
    def n_params(self) -> int:
        return len(self.params)

    def values(self, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """f(x; θ) as runs × points (x is one row shared by all runs)."""
        return self.function(x, theta, False)[0]

    def evaluate(self, x: np.ndarray, theta: np.ndarray, jac: bool = False) -> Evaluation:
        """f(x; θ) and, with ``jac``, the Jacobian as runs × points × parameters."""
        value, columns = self.function(x, theta, jac)
        if columns is None:
            return value, None
        return value, np.stack([np.broadcast_to(column, value.shape) for column in columns],
                               axis=-1)

    def columns(self, x: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """f(x; θ) and the Jacobian's columns, each runs × points (no stacked copy)."""
        value, columns = self.function(x, theta, True)
        return value, [np.broadcast_to(column, value.shape) for column in columns]


def _columns(theta: np.ndarray) -> list[np.ndarray]:
    """The parameter columns of θ, shaped (runs, 1) to broadcast against x."""
    return [theta[:, [i]] for i in range(theta.shape[1])]


def _falling(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^z), i.e. expit(−z) (an overflowing e^z gives 0), in z's precision."""
    with np.errstate(over="ignore"):
        result = np.exp(z)
    result += 1.0
    return np.reciprocal(result, out=result)


def _ones(value: np.ndarray) -> np.ndarray:
    """The Jacobian column of an additive parameter: ones shaped like value (no copy)."""
    return np.broadcast_to(np.ones(1, dtype=value.dtype), value.shape)


def _pow3(x: np.ndarray, theta: np.ndarray, jac: bool) -> Columns:
    c, a, alpha = _columns(theta)
    log_x = np.log(x)
    power = np.exp(-alpha * log_x)
    value = c + a * power
    if not jac:
        return value, None
    return value, [_ones(value), power, -a * power * log_x]


def _pow4(x: np.ndarray, theta: np.ndarray, jac: bool) -> Columns:
    c, a, shift, alpha = _columns(theta)
    base = x + shift
    log_base = np.log(base)
    power = np.exp(-alpha * log_base)
    value = c + a * power
    if not jac:
        return value, None
    return value, [_ones(value), power, -alpha * a * power / base,
                   -a * power * log_base]


def _log_power(x: np.ndarray, theta: np.ndarray, jac: bool) -> Columns:
    a, b, c = _columns(theta)
    centred = np.log(x) - b
    sigmoid = _falling(c * centred)
    value = a * sigmoid
    if not jac:
        return value, None
    slope = a * sigmoid * (1 - sigmoid)
    return value, [sigmoid, c * slope, -centred * slope]


def _mmf(x: np.ndarray, theta: np.ndarray, jac: bool) -> Columns:
    c, a, m, delta = _columns(theta)
    centred = np.log(x) - m
    sigmoid = _falling(delta * centred)
    value = c + a * sigmoid
    if not jac:
        return value, None
    slope = a * sigmoid * (1 - sigmoid)
    return value, [_ones(value), sigmoid, delta * slope, -centred * slope]


def _weibull(x: np.ndarray, theta: np.ndarray, jac: bool) -> Columns:
    c, a, m, delta = _columns(theta)
    centred = np.log(x) - m
    with np.errstate(over="ignore"):
        scaled = np.exp(delta * centred)
    decay = np.exp(-scaled)
    value = c + a * decay
    if not jac:
        return value, None
    slope = a * decay * scaled
    return value, [_ones(value), decay, delta * slope, -centred * slope]


def _ilog2(x: np.ndarray, theta: np.ndarray, jac: bool) -> Columns:
    c, a = _columns(theta)
    inverse_log = 1.0 / np.log(x + 1.0)
    value = c + a * inverse_log
    if not jac:
        return value, None
    return value, [_ones(value), inverse_log]


def _vap(x: np.ndarray, theta: np.ndarray, jac: bool) -> Columns:
    a, b, c = _columns(theta)
    log_x = np.log(x)
    with np.errstate(over="ignore"):
        value = np.exp(a + b / x + c * log_x)
    if not jac:
        return value, None
    return value, [value, value / x, value * log_x]


# ---- starts ----------------------------------------------------------------------------


def nonnegative_linear_fit(basis: np.ndarray, y: np.ndarray, weight: np.ndarray,
                           offset: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best ``y ≈ c + a·g`` with c, a ≥ 0 for every run and every candidate basis g.

    basis: candidates × points (shared by all runs); y, weight: runs × points (weight 0
    marks a missing point, whose y must be finite, e.g. 0). Returns c, a, SSE as runs ×
    candidates. Without ``offset``, c is held at 0.
    """
    wy = weight * y
    s_w = weight.sum(axis=1, keepdims=True)
    s_y = wy.sum(axis=1, keepdims=True)
    s_yy = (wy * y).sum(axis=1, keepdims=True)
    # einsum, not @: a threaded BLAS call here leaves OpenBLAS threads spinning on the
    # cores the batched fits (or their worker processes) need; the sums are tiny
    s_g, s_gg, s_gy = (np.einsum("nm,cm->nc", left, right) for left, right in
                       ((weight, basis), (weight, basis * basis), (wy, basis)))
    a_only = np.maximum(_ratio(s_gy, s_gg), 0.0)
    if offset:
        det = s_w * s_gg - s_g * s_g
        a_free = _ratio(s_w * s_gy - s_g * s_y, det, floor=1e-12 * s_w * s_gg)
        c_free = _ratio(s_y - a_free * s_g, s_w)
        c_only = np.broadcast_to(np.maximum(_ratio(s_y, s_w), 0.0), a_free.shape)
        a = np.where(a_free < 0, 0.0, np.where(c_free < 0, a_only, a_free))
        c = np.where(a_free < 0, c_only, np.maximum(c_free, 0.0))
    else:
        c = np.zeros_like(a_only)
        a = a_only
    sse = (s_yy - 2 * c * s_y - 2 * a * s_gy + c * c * s_w + 2 * c * a * s_g + a * a * s_gg)
    return c, a, sse


def _ratio(numerator: np.ndarray, denominator: np.ndarray, floor: float | np.ndarray = 0.0):
    """numerator / denominator where the denominator exceeds floor, else 0 (no inf, no NaN)."""
    usable = denominator > np.maximum(floor, 1e-300)
    safe = np.where(usable, denominator, 1.0)
    return np.where(usable, numerator / safe, 0.0)


def _best_candidate(sse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pick = np.argmin(np.where(np.isfinite(sse), sse, np.inf), axis=1)
    return np.arange(len(sse)), pick


def _grid_start(x: np.ndarray, y: np.ndarray, weight: np.ndarray,
                make_basis: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
                first: np.ndarray, second: np.ndarray, offset: bool = True) -> np.ndarray:
    """(c, a, p1, p2) of the best grid point (p1, p2) with c, a solved exactly."""
    p1, p2 = (grid.ravel() for grid in np.meshgrid(first, second, indexing="ij"))
    basis = make_basis(x[None, :], p1[:, None], p2[:, None])
    c, a, sse = nonnegative_linear_fit(basis, y, weight, offset)
    rows, pick = _best_candidate(sse)
    return np.stack([c[rows, pick], a[rows, pick], p1[pick], p2[pick]], axis=1)


ALPHAS = np.array([0.05, 0.15, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0])
SHIFTS = np.array([0.0, 1.0, 3.0, 10.0])
DELTAS = np.array([0.05, 0.2, 0.5, 1.0, 2.0, 4.0])


def _midpoints(x: np.ndarray) -> np.ndarray:
    """Candidate log-epoch midpoints from before the first to after the last epoch.

    The first, far before epoch 1, puts the sigmoid families in their power-law regime
    (a/(1 + (x/e^m)^δ) ≈ a·e^(mδ)·x^-δ); without it a power-law-like curve makes LM crawl
    there from a late midpoint along a flat valley.
    """
    low, high = np.log(x.min()), np.log(x.max())
    return np.concatenate([[low - 8.0], np.linspace(low - 1.0, high + 1.5, 6)])


def _start_pow3(x, y, weight):
    start = _grid_start(x, y, weight, lambda x, alpha, _: x**-alpha, ALPHAS, np.zeros(1))
    return start[:, :3]


def _start_pow4(x, y, weight):
    return _grid_start(x, y, weight, lambda x, alpha, shift: (x + shift) ** -alpha, ALPHAS,
                       SHIFTS)[:, [0, 1, 3, 2]]


def _start_log_power(x, y, weight):
    start = _grid_start(x, y, weight, lambda x, m, d: expit(-d * (np.log(x) - m)),
                        _midpoints(x), DELTAS, offset=False)
    return start[:, 1:]


def _start_mmf(x, y, weight):
    return _grid_start(x, y, weight, lambda x, m, d: expit(-d * (np.log(x) - m)),
                       _midpoints(x), DELTAS)


def _start_weibull(x, y, weight):
    return _grid_start(x, y, weight, lambda x, m, d: np.exp(-np.exp(d * (np.log(x) - m))),
                       _midpoints(x), DELTAS)


def _start_ilog2(x, y, weight):
    return _grid_start(x, y, weight, lambda x, *_: 1.0 / np.log(x + 1.0), np.zeros(1),
                       np.zeros(1))[:, :2]


def _start_vap(x, y, weight):
    """Weighted regression of ln y on (1, 1/x, ln x): exact for a noise-free vap curve."""
    log_y = np.log(np.maximum(y, 1e-12))
    design = np.stack([np.ones_like(x), 1.0 / x, np.log(x)], axis=1)
    normal = np.einsum("nm,mp,mq->npq", weight, design, design)
    normal += 1e-9 * np.eye(3)
    rhs = np.einsum("nm,mp->np", weight * log_y, design)
    return np.linalg.solve(normal, rhs[:, :, None])[:, :, 0]


def _family(name, formula, params, lower, upper, evaluate, start) -> Family:
    return Family(name, formula, params, np.array(lower, dtype="float64"),
                  np.array(upper, dtype="float64"), evaluate, start)


FAMILIES: dict[str, Family] = {family.name: family for family in (
    _family("pow3", "c + a·x^-α", ("c", "a", "alpha"), [0, 0, 0], [INF, INF, 10],
            _pow3, _start_pow3),
    _family("pow4", "c + a·(x + s)^-α", ("c", "a", "s", "alpha"), [0, 0, -0.99, 0],
            [INF, INF, 1e4, 10], _pow4, _start_pow4),
    _family("log_power", "a / (1 + (x/e^b)^c)", ("a", "b", "c"), [0, -20, 0], [INF, 20, 10],
            _log_power, _start_log_power),
    _family("mmf", "c + a / (1 + (x/e^m)^δ)", ("c", "a", "m", "delta"), [0, 0, -20, 0],
            [INF, INF, 20, 10], _mmf, _start_mmf),
    _family("weibull", "c + a·exp(-(x/e^m)^δ)  (= exp4 = Janoschek)", ("c", "a", "m", "delta"),
            [0, 0, -20, 0], [INF, INF, 20, 10], _weibull, _start_weibull),
    _family("ilog2", "c + a / ln(x + 1)", ("c", "a"), [0, 0], [INF, INF], _ilog2, _start_ilog2),
    _family("vap", "exp(a + b/x + c·ln x)", ("a", "b", "c"), [-50, -50, -10], [50, 50, 10],
            _vap, _start_vap),
)}
