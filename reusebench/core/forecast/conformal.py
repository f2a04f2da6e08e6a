"""Conformal recalibration of forecast intervals from a backtest.

A backtest shows whether a predictor's nominal 80 % interval holds the truth 80 % of the
time; on short noisy curves it often does not. Split-conformal calibration (Vovk et al.
2005; the interval form of conformalized quantile regression, Romano et al. 2019) fixes
the coverage without touching the forecast: each backtested run gives a score, how far
outside its interval the truth fell, in interval widths,

    score = max(low − actual, actual − high) / (high − low),

negative inside the interval (a zero-width interval that misses scores +inf, and enough
of those make the recalibrated interval unbounded: a point forecast that is wrong often
cannot be rescued by widening it). For a new run of the same kind the interval is widened by
the ⌈(n + 1)·level⌉-th smallest of the n scores on each side (narrowed where the scores
are negative), which covers with probability ≥ level when the runs are exchangeable.
Scores are pooled per (predictor, N, outcome, level) within one curve set, so "the same
kind" means the same set of runs cut at the same N.

Within one pool that guarantee makes the measured coverage ⌈n·level⌉/n whatever the
curves are, so a backtest reports two other things: the mean width the recalibrated
intervals need (leave one run out), and the coverage on each data set of intervals
calibrated on the other data sets only — the use `reusebench forecast --calibrate` is made
for (calibrate on finished runs, forecast new ones), and a check that fails where runs of
another data set miss differently.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

LEVELS = {"80": 0.80, "95": 0.95}
CALIBRATED_OUTCOMES = ("final", "best")


def interval_scores(low: np.ndarray, high: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """How far outside [low, high] each actual value lies, in interval widths (≤ 0 inside).

    A zero-width interval scores 0 when it holds the value and +inf otherwise.
    """
    low, high, actual = (np.asarray(values, dtype="float64") for values in (low, high, actual))
    outside = np.maximum(low - actual, actual - high)
    width = high - low
    with np.errstate(divide="ignore", invalid="ignore"):
        score = outside / width
    zero_width = width <= 0
    return np.where(zero_width, np.where(outside <= 0, 0.0, np.inf), score)


def conformal_margin(scores: np.ndarray, level: float) -> float:
    """The ⌈(n + 1)·level⌉-th smallest finite score; +inf when n is too small for the level."""
    finite = np.sort(np.asarray(scores, dtype="float64")[~np.isnan(scores)])
    rank = math.ceil((len(finite) + 1) * level)
    return float(finite[rank - 1]) if rank <= len(finite) else math.inf


def widen(low: np.ndarray, high: np.ndarray, margin: float | np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """The interval moved out by ``margin`` widths on each side (in where margin < 0)."""
    low, high = np.asarray(low, dtype="float64"), np.asarray(high, dtype="float64")
    margin = np.asarray(margin, dtype="float64")
    with np.errstate(invalid="ignore"):
        shift = np.where(np.isposinf(margin), np.inf, margin * (high - low))
    return low - shift, high + shift


def leave_one_out_margins(scores: np.ndarray, level: float) -> np.ndarray:
    """Per run, the conformal margin computed from the other runs' scores only.

    Removing run i shifts the ⌈n·level⌉-th smallest of the others by one place when run i
    ranks below it, so every margin comes from one sort.
    """
    scores = np.asarray(scores, dtype="float64")
    size = len(scores)
    rank = math.ceil(size * level)
    if rank > size - 1:
        return np.full(size, math.inf)
    order = np.argsort(scores, kind="stable")
    ordered = scores[order]
    place = np.empty(size, dtype=int)
    place[order] = np.arange(size)
    return np.where(place < rank, ordered[rank], ordered[rank - 1])


def calibrated_scores(low: np.ndarray, high: np.ndarray, actual: np.ndarray, level: float,
                      groups: np.ndarray | None = None) -> dict[str, float]:
    """What recalibration costs and whether it carries over, over the runs of one pool:

    - ``width``: mean width of the recalibrated intervals, each calibrated on the other
      runs (leave one run out). Their coverage is ⌈n·level⌉/n by construction, so the
      width, not the coverage, is what this measures;
    - ``cover_unseen``: coverage on each group (a data set) of intervals calibrated on the
      other groups only, pooled over runs: the check that can fail, when runs of another
      data set miss differently (NaN with fewer than two groups);
    - ``margin``: the margin that all runs together give a new run.
    """
    scores = interval_scores(low, high, actual)
    usable = ~np.isnan(scores)
    scores, width = scores[usable], (high - low)[usable]
    if not len(scores):
        return {"width": np.nan, "cover_unseen": np.nan, "margin": np.nan}
    margins = leave_one_out_margins(scores, level)
    with np.errstate(invalid="ignore"):
        widths = np.where(np.isposinf(margins), np.inf, width * (1 + 2 * margins))
    return {"width": float(np.mean(widths)),
            "cover_unseen": (np.nan if groups is None
                             else unseen_group_coverage(scores, groups[usable], level)),
            "margin": conformal_margin(scores, level)}


def unseen_group_coverage(scores: np.ndarray, groups: np.ndarray, level: float) -> float:
    """Share of runs whose score lies within the margin of the other groups' runs."""
    names = np.unique(groups)
    if len(names) < 2:
        return np.nan
    covered = np.zeros(len(scores), dtype=bool)
    for name in names:
        inside = groups == name
        covered[inside] = scores[inside] <= conformal_margin(scores[~inside], level)
    return float(np.mean(covered))


def margin_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (predictor, N, outcome, level) of a backtest's per-run table: the runs
    it rests on and the margin that calibrates a new forecast."""
    rows = []
    for (predictor, n_obs), part in runs.groupby(["predictor", "observed_n"], sort=False):
        ok = part[part["status"] == "ok"]
        for name in CALIBRATED_OUTCOMES:
            actual = ok[f"actual_{name}"].to_numpy(dtype="float64")
            usable = np.isfinite(actual)
            for suffix, level in LEVELS.items():
                scores = interval_scores(ok[f"{name}_lo{suffix}"].to_numpy(dtype="float64"),
                                         ok[f"{name}_hi{suffix}"].to_numpy(dtype="float64"),
                                         actual)[usable]
                rows.append({"predictor": predictor, "observed_n": int(n_obs),
                             "outcome": name, "level": suffix, "runs": len(scores),
                             "margin": conformal_margin(scores, level)})
    return pd.DataFrame(rows)


def apply_margins(forecasts: pd.DataFrame, margins: pd.DataFrame) -> pd.DataFrame:
    """The forecast table with ``{outcome}_lo{level}_conformal`` / ``_hi`` columns: each
    interval widened by the margin of its (predictor, N, outcome, level).

    A (predictor, N) the margins lack gets NaN there.
    """
    table = forecasts.copy()
    keyed = margins.set_index(["predictor", "observed_n", "outcome", "level"])["margin"]
    for name in CALIBRATED_OUTCOMES:
        for suffix in LEVELS:
            index = pd.MultiIndex.from_arrays([
                table["predictor"], table["observed_n"].astype(int),
                [name] * len(table), [suffix] * len(table)])
            _add_conformal(table, name, suffix, keyed.reindex(index).to_numpy(dtype="float64"))
    return table


def _add_conformal(table: pd.DataFrame, name: str, suffix: str, margin: np.ndarray) -> None:
    low, high = widen(table[f"{name}_lo{suffix}"].to_numpy(dtype="float64"),
                      table[f"{name}_hi{suffix}"].to_numpy(dtype="float64"), margin)
    table[f"{name}_lo{suffix}_conformal"] = low
    table[f"{name}_hi{suffix}_conformal"] = high



def calibrate_each_run(forecasts: pd.DataFrame, backtest_runs: pd.DataFrame) -> pd.DataFrame:
    """The forecast table with ``*_conformal`` intervals, each run's margin computed from the
    other runs of a backtest of the same curve set (leave one run out), so a finished run's
    forecast is never calibrated on its own outcome; a run the backtest lacks gets the
    margin of all its runs."""
    table = forecasts.copy()
    ok = backtest_runs[backtest_runs["status"] == "ok"]
    groups = table.groupby(["predictor", "observed_n"], sort=False).indices
    for name in CALIBRATED_OUTCOMES:
        for suffix, level in LEVELS.items():
            margin = np.full(len(table), np.nan)
            for (predictor, n_obs), rows in groups.items():
                past = ok[(ok["predictor"] == predictor) & (ok["observed_n"] == n_obs)]
                margin[rows] = _run_margins(table["run_id"].iloc[rows], past, name, suffix,
                                            level)
            _add_conformal(table, name, suffix, margin)
    return table


def _run_margins(run_ids: pd.Series, past: pd.DataFrame, name: str, suffix: str,
                 level: float) -> np.ndarray:
    scores = interval_scores(past[f"{name}_lo{suffix}"].to_numpy(dtype="float64"),
                             past[f"{name}_hi{suffix}"].to_numpy(dtype="float64"),
                             past[f"actual_{name}"].to_numpy(dtype="float64"))
    usable = ~np.isnan(scores)
    scores, ids = scores[usable], past["run_id"].astype(str).to_numpy()[usable]
    if not len(scores):
        return np.full(len(run_ids), np.nan)
    own = dict(zip(ids, leave_one_out_margins(scores, level), strict=True))
    pooled = conformal_margin(scores, level)
    return np.array([own.get(run, pooled) for run in run_ids.astype(str)], dtype="float64")
