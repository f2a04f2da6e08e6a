"""Verdicts with evidence: when a comparison of benchmark numbers may be called a result.

One decision module for every claim the project scores (the scorecard, Eq. 11, the
NAS-Bench-101 claims). A verdict is ``holds``, ``does not hold``, ``inconclusive`` or
``not run``, and carries ``n`` (the seeds, repeats, runs or points it rests on), a 95 %
interval where one can exist, and a reason (required for ``inconclusive`` and ``not run``).

The rules, each stated in the claim it decides:

- an accuracy-based claim is ``inconclusive`` unless every accuracy it compares is
  significantly above the random baseline (one-sided binomial test, α = 0.05);
- a difference claim holds or fails only when the 95 % interval of the difference over
  ≥ 3 seeds (paired by seed) excludes zero; otherwise, or with fewer seeds, ``inconclusive``;
- a fit or correlation needs at least 3 points more than the model has parameters.

Intervals are Student-t intervals of a mean over seeds (``scipy.stats.ttest_1samp``) and
Clopper-Pearson intervals of a proportion (``scipy.stats.binomtest``): with 3 to 10 seeds
a bootstrap interval is too narrow to be a 95 % interval, so the t interval is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

HOLDS, FAILS, INCONCLUSIVE, NOT_RUN = "holds", "does not hold", "inconclusive", "not run"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, NOT_RUN)
CONFIDENCE = 0.95
CHANCE_ALPHA = 0.05
MIN_SEEDS = 3
EXTRA_POINTS = 3  # points a fit or correlation needs beyond its parameter count


@dataclass(frozen=True)
class Evidence:
    """A verdict with what it rests on."""

    verdict: str
    n: int | None = None
    interval: tuple[float, float] | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")
        if self.verdict in (INCONCLUSIVE, NOT_RUN) and not self.reason:
            raise ValueError(f"a {self.verdict!r} verdict needs a reason")

    def interval_text(self, digits: int = 4) -> str:
        if self.interval is None:
            return ""
        low, high = self.interval
        return f"[{low:.{digits}g}, {high:.{digits}g}]"

    def columns(self) -> dict[str, object]:
        """The scorecard's evidence columns: verdict, n, interval, reason."""
        return {"verdict": self.verdict, "n": "" if self.n is None else int(self.n),
                "interval": self.interval_text(), "reason": self.reason}


def not_run(reason: str) -> Evidence:
    return Evidence(NOT_RUN, reason=reason)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def mean_interval(values: Iterable[float],
                  confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Student-t interval of the mean; None with fewer than 2 finite values."""
    finite = np.asarray([v for v in values if np.isfinite(v)], dtype="float64")
    if len(finite) < 2:
        return None
    if np.ptp(finite) <= 1e-12 * max(float(np.abs(finite).max()), 1e-300):
        return float(finite.mean()), float(finite.mean())  # equal up to rounding: no spread
    ci = stats.ttest_1samp(finite, 0.0).confidence_interval(confidence)
    return float(ci.low), float(ci.high)


def seed_summary(table: pd.DataFrame, keys: Sequence[str],
                 columns: Sequence[str]) -> pd.DataFrame:
    """One row per group of ``keys``: n, and mean, std and 95 % interval of each column.

    ``n`` counts the group's rows (its seeds when the keys are every key but the seed);
    std and the interval are NaN where n < 2.
    """
    rows = []
    for key, part in table.groupby(list(keys), dropna=False, sort=True):
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        row["n"] = len(part)
        for column in columns:
            values = pd.to_numeric(part[column], errors="coerce").to_numpy(dtype="float64")
            interval = mean_interval(values)
            row[f"{column}_mean"] = float(np.nanmean(values)) if np.isfinite(values).any() \
                else np.nan
            row[f"{column}_std"] = float(np.nanstd(values, ddof=1)) \
                if np.isfinite(values).sum() > 1 else np.nan
            row[f"{column}_ci_low"], row[f"{column}_ci_high"] = interval or (np.nan, np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def above_chance(correct: int, n_test: int, n_classes: int) -> float:
    """One-sided binomial p-value of ``correct`` of ``n_test`` against 1/n_classes."""
    return float(stats.binomtest(int(correct), int(n_test), 1.0 / n_classes,
                                 alternative="greater").pvalue)


def chance_gate(runs: pd.DataFrame, alpha: float = CHANCE_ALPHA) -> Evidence | None:
    """``inconclusive`` unless every run's accuracy is significantly above chance.

    ``runs`` has columns correct, n_test and n_classes; returns None when all pass.
    """
    if runs.empty:
        return None
    p_values = [above_chance(row.correct, row.n_test, row.n_classes)
                for row in runs.itertuples()]
    at_chance = sum(p >= alpha for p in p_values)
    if at_chance == 0:
        return None
    return Evidence(INCONCLUSIVE, n=len(runs), reason=(
        f"{at_chance} of {plural(len(runs), 'run')} not significantly above the random "
        f"baseline (one-sided binomial, α = {alpha:g}, largest p = {max(p_values):.2g})"))


def proportion_interval(correct: int, n_test: int,
                        confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Clopper-Pearson interval of an accuracy measured on ``n_test`` samples."""
    ci = stats.binomtest(int(correct), int(n_test)).proportion_ci(confidence)
    return float(ci.low), float(ci.high)


def seed_count_reason(n: int, unit: str = "seed") -> str:
    return f"{plural(n, unit)}; a difference needs ≥ {MIN_SEEDS} {unit}s to be told from noise"


def compare_paired(first: Sequence[float], second: Sequence[float], direction: str,
                   unit: str = "seed") -> Evidence:
    """Does ``first`` < ``second`` (direction "<") or > (">") hold, paired by seed?

    Holds when the 95 % t interval of the mean paired difference lies on the claimed side
    of zero, fails when it lies on the other side, and is inconclusive when it contains
    zero or rests on fewer than 3 pairs. The interval reported is that of first − second.
    """
    if direction not in ("<", ">"):
        raise ValueError(f"direction must be '<' or '>', not {direction!r}")
    first, second = np.asarray(first, dtype="float64"), np.asarray(second, dtype="float64")
    usable = np.isfinite(first) & np.isfinite(second)
    difference = first[usable] - second[usable]
    n = len(difference)
    if n == 0:
        return not_run(f"no finite pair of values to compare (per {unit})")
    interval = mean_interval(difference)
    if n < MIN_SEEDS:
        return Evidence(INCONCLUSIVE, n, interval, seed_count_reason(n, unit))
    return _side_of(interval, 0.0, direction, n, "difference", unit)


def compare_to_bound(values: Sequence[float], bound: float, direction: str,
                     unit: str = "seed") -> Evidence:
    """Does the mean of ``values`` lie below ("<") or above (">") ``bound``, over ≥ 3 units?"""
    n, interval, early = _mean_evidence(values, unit)
    return early or _side_of(interval, bound, direction, n, "mean", unit)


def within_range(values: Sequence[float], low: float, high: float,
                 unit: str = "seed") -> Evidence:
    """Does the mean of ``values`` lie within [low, high], judged by its 95 % interval?"""
    n, interval, early = _mean_evidence(values, unit)
    if early is not None:
        return early
    lo, hi = interval
    if low <= lo and hi <= high:
        return Evidence(HOLDS, n, interval)
    if hi < low or lo > high:
        return Evidence(FAILS, n, interval)
    return Evidence(INCONCLUSIVE, n, interval,
                    f"95 % interval over {plural(n, unit)} straddles [{low:g}, {high:g}]")


def _mean_evidence(values: Sequence[float], unit: str
                   ) -> tuple[int, tuple[float, float] | None, Evidence | None]:
    """n, the mean's interval, and the verdict already reached with no or too few values."""
    finite = np.asarray(values, dtype="float64")
    finite = finite[np.isfinite(finite)]
    n = len(finite)
    interval = mean_interval(finite)
    if n == 0:
        return n, interval, not_run(f"no finite value (per {unit})")
    if n < MIN_SEEDS:
        return n, interval, Evidence(INCONCLUSIVE, n, interval, seed_count_reason(n, unit))
    return n, interval, None


def _side_of(interval: tuple[float, float], bound: float, direction: str, n: int,
             what: str, unit: str) -> Evidence:
    low, high = interval
    below, above = high < bound, low > bound
    if (direction == "<" and below) or (direction == ">" and above):
        return Evidence(HOLDS, n, interval)
    if (direction == "<" and low >= bound) or (direction == ">" and high <= bound):
        return Evidence(FAILS, n, interval)
    return Evidence(INCONCLUSIVE, n, interval,
                    f"95 % interval of the {what} over {plural(n, unit)} contains {bound:g}: "
                    f"within the spread over {unit}s")


def enough_points(n_points: int, n_parameters: int) -> Evidence | None:
    """``inconclusive`` when a fit or correlation has too few points to decide anything."""
    needed = n_parameters + EXTRA_POINTS
    if n_points >= needed:
        return None
    return Evidence(INCONCLUSIVE, n=n_points, reason=(
        f"{n_points} points per contour; a {n_parameters}-parameter fit or correlation "
        f"needs ≥ {needed}"))


def combine(parts: Sequence[Evidence]) -> Evidence:
    """One verdict from several groups: fails if any fails, holds only if all hold."""
    if not parts:
        return not_run("nothing to judge")
    verdicts = [part.verdict for part in parts]
    n = sum(part.n or 0 for part in parts) if len(parts) > 1 else parts[0].n
    interval = parts[0].interval if len(parts) == 1 else None
    reasons = "; ".join(dict.fromkeys(part.reason for part in parts if part.reason))
    if FAILS in verdicts:
        return Evidence(FAILS, n, interval, reasons)
    if all(verdict == HOLDS for verdict in verdicts):
        return Evidence(HOLDS, n, interval)
    if INCONCLUSIVE in verdicts:
        return Evidence(INCONCLUSIVE, n, interval, reasons)
    return Evidence(NOT_RUN, n, interval, reasons or "not run")
