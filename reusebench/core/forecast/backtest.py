"""Backtest: cut every run at N epochs, forecast, and compare with what the run then did.

Per predictor and N: MAE and median relative error of the final and best loss (and the
MAE of ep*), the measured coverage of the nominal 80 % and 95 % intervals, their mean
width, the mean CRPS of the predictive draws, the share of correct early-stopping calls
and the time per curve; for the final loss and M_er also the width the intervals need
after conformal recalibration, and the coverage of intervals calibrated on the other data
sets only (see ``conformal``).

Early stopping follows Domhan et al.'s protocol: the runs of one group (study, data set,
target) are taken in run_id order as a sequential search; at epoch N a run is continued
when its forecast gives it at least ``stop_threshold`` (5 %) probability of ending with a
lower M_er than the best M_er of the runs before it, and stopped otherwise. The call is
correct when the run did (continued) or did not (stopped) beat that incumbent. The first
run of each group has no incumbent and is not scored.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial

import numpy as np
import pandas as pd

from reusebench.core.forecast.conformal import CALIBRATED_OUTCOMES, LEVELS, calibrated_scores
from reusebench.core.forecast.predict import (
    OUTCOMES,
    Draws,
    map_forecasts,
    summarize,
)
from reusebench.core.forecast.targets import Targets

DEFAULT_STOP_THRESHOLD = 0.05
GROUP_KEYS = ("study", "dataset")


def actual_outcomes(targets: Targets) -> dict[str, np.ndarray]:
    """What each run did: its final value, M_er (min over finite values) and ep* (1-based)."""
    values = targets.values
    final = values[np.arange(len(values)), targets.length - 1]
    finite = np.where(np.isfinite(values), values, np.inf)
    best = finite.min(axis=1)
    has_value = np.isfinite(best)
    return {"final": final, "best": np.where(has_value, best, np.nan),
            "best_epoch": np.where(has_value, finite.argmin(axis=1) + 1.0, np.nan)}


def incumbents(targets: Targets, best: np.ndarray) -> np.ndarray:
    """Best M_er among the earlier runs (run_id order) of the same group; NaN for the first."""
    order = np.argsort(targets.runs["run_id"].to_numpy(dtype=str), kind="stable")
    groups = pd.Series(_groups(targets.runs)) + "/" + np.asarray(targets.kind, dtype=str)
    ordered = pd.Series(np.where(np.isfinite(best), best, np.inf)[order])
    running = ordered.groupby(groups.to_numpy()[order]).transform(
        lambda values: values.cummin().shift(1))
    result = np.full(len(best), np.nan)
    result[order] = running.to_numpy(dtype="float64")
    return np.where(np.isfinite(result), result, np.nan)


def crps(samples: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Sample CRPS per row: mean |X − y| − ½ mean |X − X'| (inf where a draw is not finite)."""
    ordered = np.sort(samples, axis=1)
    size = ordered.shape[1]
    rank_weight = 2 * np.arange(1, size + 1) - size - 1
    with np.errstate(invalid="ignore"):
        value = (np.abs(ordered - truth[:, None]).mean(axis=1)
                 - (rank_weight * ordered).sum(axis=1) / size**2)
    return np.where(np.isfinite(ordered).all(axis=1), value, np.inf)


def backtest_runs(targets: Targets, observed: Sequence[int], predictors: Sequence[str],
                  n_draws: int, *, seed: int = 0, threads: int = 1,
                  stop_threshold: float = DEFAULT_STOP_THRESHOLD
                  ) -> tuple[pd.DataFrame, dict[tuple[str, int], float]]:
    """One row per (run, N, predictor) with forecast, actual outcome and scores; and the
    wall seconds each (predictor, N) took."""
    actual = actual_outcomes(targets)
    incumbent = incumbents(targets, actual["best"])
    reduce = partial(_scores, actual=actual, incumbent=incumbent)
    tables, seconds = [], {}
    for n_obs in observed:
        for predictor in predictors:
            start = time.perf_counter()
            parts = map_forecasts(targets, n_obs, predictor, n_draws, targets.length, reduce,
                                  seed=seed, threads=threads)
            seconds[predictor, n_obs] = time.perf_counter() - start
            columns = {name: np.concatenate([part[name] for part in parts])
                       for name in parts[0]}
            tables.append(_run_table(targets, n_obs, predictor, columns, actual, incumbent,
                                     stop_threshold))
    return pd.concat(tables, ignore_index=True), seconds


def _scores(draws: Draws, rows: np.ndarray, actual: dict[str, np.ndarray],
            incumbent: np.ndarray) -> dict[str, np.ndarray]:
    columns = {"status": draws.status, "detail": draws.detail, **summarize(draws)}
    ok = draws.status == "ok"
    for name in ("final", "best"):
        score = np.full(len(rows), np.nan)
        if ok.any():
            score[ok] = crps(getattr(draws, name)[ok], actual[name][rows][ok])
        columns[f"crps_{name}"] = score
    with np.errstate(invalid="ignore"):
        beats = draws.best < incumbent[rows, None]
    columns["p_beat"] = np.where(ok & np.isfinite(incumbent[rows]), beats.mean(axis=1), np.nan)
    return columns


def _run_table(targets: Targets, n_obs: int, predictor: str, columns: dict[str, np.ndarray],
               actual: dict[str, np.ndarray], incumbent: np.ndarray,
               stop_threshold: float) -> pd.DataFrame:
    table = targets.runs.copy()
    table["target"] = targets.kind
    table["observed_n"] = n_obs
    table["epochs"] = targets.length
    table["predictor"] = predictor
    for name, values in columns.items():
        table[name] = values
    for name in OUTCOMES:
        table[f"actual_{name}"] = actual[name]
    table["incumbent"] = incumbent
    scored = np.isfinite(table["p_beat"].to_numpy(dtype="float64"))
    table["continue"] = np.where(scored, table["p_beat"] >= stop_threshold, None)
    table["beat"] = np.where(scored, actual["best"] < incumbent, None)
    table["stop_correct"] = np.where(scored, table["continue"] == table["beat"], None)
    return table


def backtest_summary(runs: pd.DataFrame,
                     seconds: dict[tuple[str, int], float]) -> pd.DataFrame:
    """One row per (predictor, N): errors, coverage, width, CRPS, stopping, time per curve."""
    rows = []
    for (predictor, n_obs), part in runs.groupby(["predictor", "observed_n"], sort=False):
        ok = part[part["status"] == "ok"]
        row = {"predictor": predictor, "observed_n": n_obs, "runs": len(part),
               "forecast": len(ok), "skipped": _status_counts(part)}
        for name in OUTCOMES:
            row.update(_outcome_scores(ok, name))
        scored = ok[ok["stop_correct"].notna()]
        row["stop_scored"] = len(scored)
        row["stop_correct"] = (scored["stop_correct"].astype(bool).mean() if len(scored)
                               else np.nan)
        row["seconds_per_curve"] = (seconds[predictor, n_obs] / len(ok) if len(ok)
                                    else np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def _status_counts(part: pd.DataFrame) -> str:
    counts = part.loc[part["status"] != "ok", "status"].value_counts()
    return "; ".join(f"{status} {count}" for status, count in counts.items())


def _outcome_scores(ok: pd.DataFrame, name: str) -> dict[str, float]:
    """Scores of one outcome over the runs whose actual value is finite."""
    actual = ok[f"actual_{name}"].to_numpy(dtype="float64")
    usable = np.isfinite(actual)
    predicted = ok[name].to_numpy(dtype="float64")[usable]
    actual = actual[usable]
    error = np.abs(predicted - actual)
    scores = {f"{name}_n": int(usable.sum()),
              f"{name}_mae": _mean(error)}
    if name == "best_epoch":
        scores.update(_interval_scores(ok[usable], name, actual))
        return scores
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = error / actual
    relative = relative[actual > 0]
    scores[f"{name}_median_rel_error"] = float(np.median(relative)) if relative.size else np.nan
    scores.update(_interval_scores(ok[usable], name, actual))
    scores[f"{name}_crps"] = _mean(ok[f"crps_{name}"].to_numpy(dtype="float64")[usable])
    return scores


def _interval_scores(ok: pd.DataFrame, name: str, actual: np.ndarray) -> dict[str, float]:
    scores = {}
    for level, nominal in LEVELS.items():
        low = ok[f"{name}_lo{level}"].to_numpy(dtype="float64")
        high = ok[f"{name}_hi{level}"].to_numpy(dtype="float64")
        scores[f"{name}_cover{level}"] = _mean((low <= actual) & (actual <= high))
        scores[f"{name}_width{level}"] = _mean(high - low)
        if name in CALIBRATED_OUTCOMES:
            calibrated = calibrated_scores(low, high, actual, nominal, _groups(ok))
            scores[f"{name}_conformal_width{level}"] = calibrated["width"]
            scores[f"{name}_conformal_cover{level}_unseen"] = calibrated["cover_unseen"]
    return scores


def _groups(table: pd.DataFrame) -> np.ndarray:
    return table[list(GROUP_KEYS)].astype(str).agg("/".join, axis=1).to_numpy()


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if np.size(values) else np.nan
