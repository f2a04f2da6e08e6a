"""Where a run ends, predicted from its first N epochs: final loss, M_er and ep*, with intervals.

Every predictor gives S predictive draws of the rest of the run (epochs N+1 … EP); each
draw is a whole future curve, joined to the observed prefix, so the final loss, the best
loss M_er = min over all epochs (observed ones included) and its first epoch ep* are read
off the same draw. The point forecast is the median draw; the central 80 % and 95 %
intervals are order statistics of the draws (losses below 0 are clipped to 0).

- ``pw``, ``exp``: the paper's fits (:func:`reusebench.core.fit.fit_curves`, as in Δ(fit)) with a
  residual bootstrap: each draw refits the model to fitted + resampled residuals (scaled by
  √(N/(N−2)) for the two fitted parameters) and adds Gaussian noise of the residuals' σ to
  the future epochs (resampling only N residuals there could never give a future epoch a
  lower value than the lowest residual seen, which biases M_er upwards).
- ``ensemble``: the seven families of :mod:`.families`, each fitted to the prefix, weighted by
  the log score of its forecast of the last epochs of the prefix (held out, refitted on the
  rest); draws pick a family by weight, its parameters from the Laplace posterior, and add
  Gaussian noise of that family's residual σ.
- ``ensemble_ic``: the same fits weighted by AICc on the whole prefix (for comparison).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2

from reusebench.core import fit
from reusebench.core.errors import InputError
from reusebench.core.forecast.batchfit import FamilyFit, Laplace, fit_family, laplace
from reusebench.core.forecast.families import FAMILIES, Family
from reusebench.core.forecast.targets import Targets

PREDICTORS = ("pw", "exp", "ensemble", "ensemble_ic")
DEFAULT_PREDICTORS = ("pw", "exp", "ensemble")
DEFAULT_DRAWS = 100  # 95 % interval = 3rd and 98th of 100 ordered draws; raise with --draws
OUTCOMES = ("final", "best", "best_epoch")
# quantile levels of the point forecast and the central 80 % / 95 % intervals
BOUNDS = {"": 0.5, "_lo80": 0.1, "_hi80": 0.9, "_lo95": 0.025, "_hi95": 0.975}
FIT_BLOCK = 2048  # runs fitted together
DRAW_BLOCK = 128  # runs simulated together: DRAW_BLOCK × draws × future epochs values
OK_WORDS = ("ok", "max_iter")
REDRAWS = 4  # rounds of redrawing posterior draws that do not fit the observed epochs
# 99 % points of χ²_p: how far (in σ²) a posterior draw's curve may lie from the fitted
# one on the observed epochs
CONSISTENT = {p: float(chi2.ppf(0.99, p)) for p in range(1, 8)}


@dataclass(frozen=True)
class Draws:
    """Predictive draws per run (runs × S; NaN where status is not ok) and notes per run."""

    final: np.ndarray
    best: np.ndarray
    best_epoch: np.ndarray
    status: np.ndarray
    detail: np.ndarray

    @classmethod
    def empty(cls, n_runs: int, n_draws: int, status: np.ndarray) -> Draws:
        blank = np.full((n_runs, n_draws), np.nan)
        return cls(blank, blank.copy(), blank.copy(), status.astype(object),
                   np.full(n_runs, "", dtype=object))


DrawFunction = Callable[[np.ndarray, np.ndarray, int, np.random.Generator], Draws]
_REGISTERED: dict[str, DrawFunction] = {}


def register_predictor(name: str, draw: DrawFunction) -> None:
    """Add a predictor whose draws come from outside core: the LC-PFN of the [forecast] extra,
    which the command line registers as ``pfn`` when it is given weights."""
    _REGISTERED[name] = draw


def _predictor_number(predictor: str) -> int:
    """A stable number per predictor, for the seeds of its draws."""
    return (PREDICTORS.index(predictor) if predictor in PREDICTORS
            else len(PREDICTORS) + sorted(_REGISTERED).index(predictor))


def predict_draws(predictor: str, prefix: np.ndarray, horizon: np.ndarray, n_draws: int,
                  rng: np.random.Generator) -> Draws:
    """Draws for runs whose first N target values are ``prefix`` (runs × N, NaN = missing)
    and that end at epoch ``horizon`` (per run)."""
    if predictor in _REGISTERED:
        return _REGISTERED[predictor](prefix, horizon, n_draws, rng)
    if predictor not in PREDICTORS:
        raise ValueError(f"unknown predictor {predictor!r}; choose from {PREDICTORS}")
    n_obs = prefix.shape[1]
    status = np.where(horizon <= n_obs, "no_epochs_after_n",
                      np.where(~np.isfinite(prefix[:, -1]), "diverged_in_prefix", "ok"))
    draws = Draws.empty(len(prefix), n_draws, status)
    rows = np.flatnonzero(status == "ok")
    if rows.size:
        model = _ensemble if predictor.startswith("ensemble") else _bootstrap
        part = model(predictor, prefix[rows], horizon[rows] - n_obs, n_draws, rng)
        for name in (*OUTCOMES, "status", "detail"):
            getattr(draws, name)[rows] = getattr(part, name)
    return draws


# ---- simulation shared by the predictors ------------------------------------------------


def _simulate(prefix: np.ndarray, steps: np.ndarray, n_draws: int,
              make_block: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, ...]:
    """Final, best and ep* per draw; make_block(rows) gives future curves (rows × S × F)."""
    n_runs, n_obs = prefix.shape
    observed = np.where(np.isfinite(prefix), prefix, np.inf)
    prefix_best, prefix_at = observed.min(axis=1), observed.argmin(axis=1)
    final, best, epoch = (np.full((n_runs, n_draws), np.nan) for _ in range(3))
    future = np.arange(steps.max())
    for start in range(0, n_runs, DRAW_BLOCK):
        rows = np.arange(start, min(start + DRAW_BLOCK, n_runs))
        curves = make_block(rows)
        np.maximum(curves, 0.0, out=curves)
        curves[np.isnan(curves)] = np.inf
        last = (steps[rows] - 1)[:, None, None]
        final[rows] = np.take_along_axis(curves, np.broadcast_to(last, (len(rows), n_draws, 1)),
                                         axis=2)[..., 0]
        if (steps[rows] < len(future)).any():  # runs ending before the block's last epoch
            curves[(future[None, :] >= steps[rows, None])[:, None, :]
                   .repeat(n_draws, axis=1)] = np.inf
        future_at = curves.argmin(axis=2)
        future_min = np.take_along_axis(curves, future_at[..., None], axis=2)[..., 0]
        earlier = prefix_best[rows, None] <= future_min
        best[rows] = np.where(earlier, prefix_best[rows, None], future_min)
        epoch[rows] = np.where(earlier, prefix_at[rows, None] + 1, n_obs + future_at + 1)
    return final, best, epoch


# ---- PW / EXP with a residual bootstrap ---------------------------------------------------


def _bootstrap(model: str, prefix: np.ndarray, steps: np.ndarray, n_draws: int,
               rng: np.random.Generator) -> Draws:
    n_runs, n_obs = prefix.shape
    x = np.arange(1.0, n_obs + 1.0)
    with np.errstate(all="ignore"):  # a diverging fit is reported by its status
        fitted = fit.fit_curves(model, np.broadcast_to(x, prefix.shape), prefix)
    ok = np.isin(fitted.status, OK_WORDS) & (n_obs > 2)
    status = np.where(ok, "ok", np.where(n_obs <= 2, "too_few_points",
                                         np.where(fitted.status == "nonfinite_input",
                                                  "nonfinite_prefix", "fit_failed")))
    draws = Draws.empty(n_runs, n_draws, status)
    draws.detail[:] = [f"a={a:.6g} b={b:.6g}" for a, b in zip(fitted.a, fitted.b, strict=True)]
    rows = np.flatnonzero(ok)
    if not rows.size:
        return draws
    mean = fit.predict(model, fitted.a[rows], fitted.b[rows], x)
    pool = (prefix[rows] - mean) * np.sqrt(n_obs / (n_obs - 2))
    sigma = np.sqrt((pool**2).mean(axis=1))
    future_x = n_obs + 1.0 + np.arange(steps.max())

    def make_block(block: np.ndarray) -> np.ndarray:
        resampled = pool[block[:, None, None], rng.integers(0, n_obs, (len(block), n_draws,
                                                                       n_obs))]
        with np.errstate(all="ignore"):
            refit = fit.fit_curves(model, np.broadcast_to(x, (len(block) * n_draws, n_obs)),
                                   (mean[block, None, :] + resampled).reshape(-1, n_obs))
        usable = np.isin(refit.status, OK_WORDS)
        original = np.repeat(block, n_draws)
        a = np.where(usable, refit.a, fitted.a[rows][original])
        b = np.where(usable, refit.b, fitted.b[rows][original])
        with np.errstate(all="ignore"):
            curves = fit.predict(model, a, b, future_x).reshape(len(block), n_draws, -1)
        noise = rng.standard_normal(curves.shape)
        noise *= sigma[block, None, None]
        return curves + noise

    outcomes = _simulate(prefix[rows], steps[rows], n_draws, make_block)
    for name, values in zip(OUTCOMES, outcomes, strict=True):
        getattr(draws, name)[rows] = values
    return draws


# ---- the weighted ensemble of curve families ---------------------------------------------


def holdout_size(n_obs: int) -> int:
    """Epochs at the end of the prefix held out to weight the families: max(2, N // 5)."""
    return max(2, n_obs // 5)


@dataclass(frozen=True)
class Member:
    """One family's fit to the whole prefix, its posterior and its (log) weight score."""

    family: Family
    fit: FamilyFit
    posterior: Laplace
    score: np.ndarray
    too_few: np.ndarray
    fitted: np.ndarray


def fit_members(prefix: np.ndarray, weighting: str = "holdout") -> list[Member]:
    """Fit every family to each run's prefix and score it (``holdout`` or ``ic``)."""
    x = np.arange(1.0, prefix.shape[1] + 1.0)
    weight = np.isfinite(prefix).astype("float64")
    y = np.where(weight > 0, prefix, 0.0)
    return [_member(family, x, y, weight, weighting) for family in FAMILIES.values()]


def _member(family: Family, x: np.ndarray, y: np.ndarray, weight: np.ndarray,
            weighting: str) -> Member:
    start = None
    if weighting == "holdout":
        score, start, too_few = _holdout_score(family, x, y, weight)
    whole = fit_family(family, x, y, weight, start)
    posterior = laplace(family, x, weight, whole)
    if weighting != "holdout":
        score, too_few = _aicc_score(whole, family.n_params), whole.status == "too_few_points"
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        fitted = family.values(x, np.where(whole.ok[:, None], whole.theta, 0.0))
    return Member(family, whole, posterior, np.where(whole.ok, score, -np.inf), too_few,
                  fitted)


def _holdout_score(family: Family, x: np.ndarray, y: np.ndarray,
                   weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log predictive density of the held-out last epochs under a fit to the rest."""
    held = holdout_size(len(x))
    train = weight.copy()
    train[:, -held:] = 0.0
    first = fit_family(family, x, y, train)
    posterior = laplace(family, x, train, first)
    theta = np.where(first.ok[:, None], first.theta, family.lower.clip(0, 1))
    with np.errstate(over="ignore", invalid="ignore"):
        value, jac = family.evaluate(x[-held:], theta, True)
        variance = posterior.predictive_variance(jac)
        floor = (1e-6 * np.abs(y).max(axis=1, keepdims=True)) ** 2 + 1e-300
        variance = np.maximum(variance, floor)
        log_density = -0.5 * (np.log(2 * np.pi * variance) + (y[:, -held:] - value) ** 2
                              / variance)
    score = (np.where(weight[:, -held:] > 0, log_density, 0.0)).sum(axis=1)
    score = np.where(first.ok & np.isfinite(score), score, -np.inf)
    return score, first.theta, first.status == "too_few_points"


def _aicc_score(whole: FamilyFit, n_params: int) -> np.ndarray:
    """−AICc/2 with the noise variance counted as a parameter (−inf where undefined)."""
    k, n = n_params + 1, whole.n_points
    with np.errstate(divide="ignore", invalid="ignore"):
        aicc = (n * np.log(np.maximum(whole.sse, 1e-300) / n) + 2 * k
                + 2 * k * (k + 1) / (n - k - 1))
    return np.where(n - k - 1 > 0, -0.5 * aicc, -np.inf)


def member_weights(members: list[Member]) -> np.ndarray:
    """Normalised weights (runs × families); a row of NaN where no family fitted."""
    scores = np.stack([member.score for member in members], axis=1)
    top = scores.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        raw = np.exp(scores - np.where(np.isfinite(top), top, 0.0))
        return raw / raw.sum(axis=1, keepdims=True)


def _ensemble(predictor: str, prefix: np.ndarray, steps: np.ndarray, n_draws: int,
              rng: np.random.Generator) -> Draws:
    members = fit_members(prefix, "ic" if predictor == "ensemble_ic" else "holdout")
    weights = member_weights(members)
    ok = np.isfinite(weights).all(axis=1)
    too_few = np.all([member.too_few for member in members], axis=0)
    draws = Draws.empty(len(prefix), n_draws,
                        np.where(ok, "ok", np.where(too_few, "too_few_points", "fit_failed")))
    draws.detail[:] = _weight_notes(members, weights)
    rows = np.flatnonzero(ok)
    if not rows.size:
        return draws
    cumulative = np.cumsum(weights[rows], axis=1)
    quantile = (np.arange(n_draws) + 0.5) / n_draws
    chosen = np.minimum((quantile[None, :, None] >= cumulative[:, None, :]).sum(axis=2),
                        len(members) - 1)
    future_x = prefix.shape[1] + 1.0 + np.arange(steps.max())

    def make_block(block: np.ndarray) -> np.ndarray:
        curves = np.empty((len(block), n_draws, len(future_x)), dtype="float32")
        for index, member in enumerate(members):
            run, draw = np.nonzero(chosen[block] == index)
            if run.size:
                curves[run, draw] = _member_curves(member, rows[block[run]], future_x, rng)
        return curves

    outcomes = _simulate(prefix[rows], steps[rows], n_draws, make_block)
    for name, values in zip(OUTCOMES, outcomes, strict=True):
        getattr(draws, name)[rows] = values
    return draws


def _member_curves(member: Member, runs: np.ndarray, future_x: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """One future curve per entry of ``runs``: θ from the Laplace posterior plus noise.

    The Laplace approximation is poor where the prefix barely determines a parameter
    (its variance is then huge and draws leave the region the data allow). A draw is
    therefore kept only if its curve on the observed epochs stays as close to the fitted
    one as the approximation itself implies (squared distance / σ² within the 99 % point
    of χ²_p) and is finite; others are redrawn up to ``REDRAWS`` times, then the fitted θ
    is used. Curves are float32: the draws only feed order statistics.
    """
    n_obs = member.fitted.shape[1]
    every_x = np.concatenate([np.arange(1.0, n_obs + 1.0), future_x]).astype("float32")
    curves, accepted = _posterior_draws(member, runs, every_x, rng)
    pending = np.flatnonzero(~accepted)
    for _ in range(REDRAWS):
        if pending.size == 0:
            break
        drawn, accepted = _posterior_draws(member, runs[pending], every_x, rng)
        curves[pending[accepted]] = drawn[accepted]
        pending = pending[~accepted]
    if pending.size:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            fitted = member.family.values(every_x, member.fit.theta[runs[pending]])
        curves[pending] = fitted[:, n_obs:]
    noise = rng.standard_normal(curves.shape, dtype="float32")
    noise *= member.posterior.sigma[runs, None].astype("float32")
    noise += curves
    return noise


def _posterior_draws(member: Member, runs: np.ndarray, every_x: np.ndarray,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Future mean curves of Laplace draws, and which draws fit the observed epochs."""
    family, posterior = member.family, member.posterior
    n_obs = member.fitted.shape[1]
    shift = rng.standard_normal((len(runs), family.n_params, 1))
    theta = member.fit.theta[runs] + np.einsum("npq,nq->np", posterior.sqrt_cov[runs],
                                               shift[:, :, 0])  # no BLAS: see batchfit
    theta = np.clip(theta, family.lower, family.upper).astype("float32")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        values = family.values(every_x, theta)
        distance = ((values[:, :n_obs] - member.fitted[runs]) ** 2).sum(axis=1)
        distance /= np.maximum(posterior.sigma[runs] ** 2, 1e-30)
    accepted = (distance <= CONSISTENT[family.n_params]) & np.isfinite(values).all(axis=1)
    return values[:, n_obs:], accepted


def _weight_notes(members: list[Member], weights: np.ndarray) -> list[str]:
    """'family weight' pairs per run, largest first, those of at least 1 %."""
    names = [member.family.name for member in members]
    order = np.argsort(-np.nan_to_num(weights, nan=-1.0), axis=1, kind="stable")
    ranked = np.take_along_axis(weights, order, axis=1).tolist()
    return [", ".join(f"{names[i]} {weight:.2f}" for i, weight in zip(row_order, row, strict=True)
                      if weight >= 0.01)
            for row_order, row in zip(order.tolist(), ranked, strict=True)]


# ---- many runs: chunks, threads, statuses ------------------------------------------------


def observed_prefix(targets: Targets, n_obs: int) -> tuple[np.ndarray, np.ndarray]:
    """The first N target values per run (NaN padded) and which runs are shorter than N."""
    values = targets.values[:, :n_obs]
    if values.shape[1] < n_obs:
        values = np.pad(values, ((0, 0), (0, n_obs - values.shape[1])), constant_values=np.nan)
    return values, targets.length < n_obs


def map_forecasts(targets: Targets, n_obs: int, predictor: str, n_draws: int,
                  horizon: np.ndarray, reduce: Callable[[Draws, np.ndarray], Any], *,
                  seed: int = 0, threads: int = 1) -> list[Any]:
    """``reduce(draws, run_indices)`` of every chunk of runs, in run order.

    Runs shorter than N get status ``shorter_than_n`` and no draws. Each chunk draws from
    its own generator seeded by (seed, N, predictor, chunk), so results do not depend on
    the number of workers. With ``threads`` > 1 and more than one chunk, the chunks are
    forecast by that many worker processes (:func:`worker_pool`); ``reduce`` runs here.
    """
    prefix, short = observed_prefix(targets, n_obs)
    chunks = [np.arange(start, min(start + FIT_BLOCK, len(prefix)))
              for start in range(0, len(prefix), FIT_BLOCK)]
    tasks = [(predictor, prefix[rows], horizon[rows], short[rows], n_draws,
              (seed, n_obs, _predictor_number(predictor), index))
             for index, rows in enumerate(chunks)]
    if threads <= 1 or len(chunks) <= 1 or predictor in _REGISTERED:  # torch: no fork
        parts = map(_chunk_draws, *zip(*tasks, strict=True))
        return [reduce(draws, rows) for draws, rows in zip(parts, chunks, strict=True)]
    with worker_pool(min(threads, len(chunks))) as pool:
        parts = pool.map(_chunk_draws, *zip(*tasks, strict=True))
        return [reduce(draws, rows) for draws, rows in zip(parts, chunks, strict=True)]


def _chunk_draws(predictor: str, prefix: np.ndarray, horizon: np.ndarray, short: np.ndarray,
                 n_draws: int, seed: tuple[int, ...]) -> Draws:
    """Draws of one chunk of runs (a worker's task); runs shorter than N get no draws."""
    draws = predict_draws(predictor, prefix, horizon, n_draws, np.random.default_rng(seed))
    draws.status[short] = "shorter_than_n"
    for name in OUTCOMES:
        getattr(draws, name)[short] = np.nan
    return draws


def worker_pool(workers: int) -> Executor:
    """Processes where the platform forks (the batched fits hold the GIL between NumPy calls,
    so threads share one core for much of the time), threads elsewhere.

    Forked workers inherit the loaded modules and need no main-module guard (a Snakemake
    script has none); a worker only runs NumPy on the arrays it is sent.
    """
    if "fork" in multiprocessing.get_all_start_methods():
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    return ThreadPoolExecutor(workers)


def summarize(draws: Draws) -> dict[str, np.ndarray]:
    """Median and 80 % / 95 % interval ends per outcome (order statistics of the draws)."""
    ok = draws.status == "ok"
    columns: dict[str, np.ndarray] = {}
    for name in OUTCOMES:
        values = getattr(draws, name)
        levels = np.quantile(values[ok], list(BOUNDS.values()), axis=1,
                             method="inverted_cdf") if ok.any() else None
        for position, suffix in enumerate(BOUNDS):
            column = np.full(len(ok), np.nan)
            if levels is not None:
                column[ok] = levels[position]
            columns[f"{name}{suffix}"] = column
    return columns


def forecast_table(targets: Targets, observed: Sequence[int],
                   predictors: Sequence[str] = DEFAULT_PREDICTORS,
                   n_draws: int = DEFAULT_DRAWS, horizon: int | None = None, *,
                   seed: int = 0, threads: int = 1) -> pd.DataFrame:
    """One row per (run, N, predictor): status, median and 80 % / 95 % intervals of the
    final loss, M_er and ep*, and a note (fitted a, b or the ensemble weights).

    The horizon (the epoch the run ends at) is each run's last epoch in the table unless
    ``horizon`` is given.
    """
    ends = targets.length if horizon is None else np.full(len(targets.length), horizon)

    def reduce(draws: Draws, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {"status": draws.status, **summarize(draws), "detail": draws.detail}

    tables = []
    for n_obs in observed:
        for predictor in predictors:
            parts = map_forecasts(targets, n_obs, predictor, n_draws, ends, reduce, seed=seed,
                                  threads=threads)
            table = targets.runs.copy()
            table["target"] = targets.kind
            table["observed_n"] = n_obs
            table["horizon"] = ends
            table["predictor"] = predictor
            for name in parts[0]:
                table[name] = np.concatenate([part[name] for part in parts])
            tables.append(table)
    return pd.concat(tables, ignore_index=True)


# ---- reading a forecast table back --------------------------------------------------------

FORECAST_COLUMNS = ("run_id", "observed_n", "predictor", "status",
                    *(f"{name}{suffix}" for name in OUTCOMES for suffix in BOUNDS))


def read_forecast_table(path: str | Path) -> pd.DataFrame:
    """A table of ``reusebench forecast`` (.csv or .parquet); InputError when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such forecast table.")
    if path.suffix not in (".csv", ".parquet"):
        raise InputError(f"{path}: a forecast table must end in .csv or .parquet.")
    try:
        table = (pd.read_parquet(path) if path.suffix == ".parquet"
                 else pd.read_csv(path, dtype={"run_id": str, "status": str}))
    except Exception as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{path}: cannot be read as a forecast table ({first_line}).") from error
    missing = [column for column in FORECAST_COLUMNS if column not in table.columns]
    if missing:
        raise InputError(f"{path}: not a forecast table of `reusebench forecast`, it has no "
                         f"column '{missing[0]}'.")
    return table


def latest_forecasts(table: pd.DataFrame, predictor: str | None = None) -> pd.DataFrame:
    """Per run (index run_id), the forecast of ``predictor`` (default: the table's first)
    from the largest N that gave one (status ok); runs without any are left out."""
    if table.empty:
        return table.set_index("run_id")
    predictor = str(table["predictor"].iloc[0]) if predictor is None else predictor
    ok = table[(table["predictor"] == predictor) & (table["status"] == "ok")]
    return (ok.sort_values("observed_n", kind="stable")
            .drop_duplicates("run_id", keep="last").set_index("run_id"))
