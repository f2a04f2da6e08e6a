"""OpScore (paper Eq. 1), rankings with the fictitious MIN and MAX rows, Pareto fronts.

OpScore = log10(1 − Acc) + log10(Time in s) + log10(Size in MB); lower is better. The paper
writes the first term as −log10(1/(1 − Acc)). It is computed with the training time, the
test (inference) time and their total, and every column says which.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TIMES = {"train": "train_seconds", "test": "test_seconds", "total": "total_seconds"}
SIZES = {"": "size_mb", "_gzip": "gzip_mb"}
RANK_BY = "opscore_total"
SCORE_COLUMNS = ("accuracy", "opscore_train", "opscore_test", "opscore_total",
                 "opscore_total_gzip", "size_mb", "gzip_mb", *TIMES.values())
NOTE = ("OpScore = log10(1 − accuracy) + log10(time in s) + log10(size in MB), lower is better "
        "(paper Eq. 1). `opscore_train` uses the training time, `opscore_test` the test "
        "(inference) time, `opscore_total` their sum, all with the saved HDF5 file's size; "
        "`opscore_total_gzip` the total time with the gzip-compressed size. Ranked by "
        "`opscore_total`. MIN and MAX are fictitious models made of the best and worst value "
        "of every column. An accuracy of 1 has its error floored at 0.5/n_test "
        "(`error_floored`).")


def opscore(accuracy: float | np.ndarray, seconds: float | np.ndarray,
            size_mb: float | np.ndarray) -> float | np.ndarray:
    """log10(1 − accuracy) + log10(seconds) + log10(size_mb); −inf at accuracy 1."""
    with np.errstate(divide="ignore"):
        return np.log10(1.0 - np.asarray(accuracy, dtype=float)) + \
            np.log10(np.asarray(seconds, dtype=float)) + np.log10(np.asarray(size_mb, dtype=float))


def _scores(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``opscore_{train,test,total}`` (raw file size) and ``opscore_total_gzip``."""
    scored = table.copy()
    accuracy = 1.0 - scored["error"]
    for label, column in TIMES.items():
        scored[f"opscore_{label}"] = opscore(accuracy, scored[column], scored["size_mb"])
    scored["opscore_total_gzip"] = opscore(accuracy, scored["total_seconds"], scored["gzip_mb"])
    return scored


def floored_error(accuracy: pd.Series, n_test: pd.Series) -> pd.Series:
    """1 − accuracy, floored at half a test image (0.5 / n_test) so OpScore stays finite."""
    return np.maximum(1.0 - accuracy, 0.5 / n_test.astype(float))


def ranking(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs ranked by OpScore (total time, raw file size), framed by MIN and MAX rows.

    A perfect test accuracy would give −∞, so the error 1 − Acc is floored at half an image,
    0.5 / n_test (the test set's resolution); ``error_floored`` marks where that applied. MIN
    takes the best value of every column (highest accuracy, smallest size and times), MAX
    the worst, and both are scored like a model (paper Tables 5 and 6).
    """
    if runs.empty:
        raise ValueError("no runs to rank")
    seeded = "seed" in runs.columns
    table = runs[["arch", "technique", "device", *(["seed"] if seeded else []), "accuracy",
                  "n_test", "size_mb", "gzip_mb", *TIMES.values()]].copy()
    table["error"] = floored_error(table["accuracy"], table["n_test"])
    table["error_floored"] = table["error"] > 1.0 - table["accuracy"]
    label = table["arch"] + " " + table["technique"]
    if seeded:
        label = label + " s" + table["seed"].astype("int64").astype(str)
    table.insert(0, "model", label)
    ranked = _scores(table).sort_values([RANK_BY, "model"], kind="stable")
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    best, worst = _extreme_row(ranked, "MIN", best=True), _extreme_row(ranked, "MAX", best=False)
    result = pd.concat([best, ranked, worst], ignore_index=True)
    return result.drop(columns=["error", "n_test"])


def _extreme_row(ranked: pd.DataFrame, name: str, best: bool) -> pd.DataFrame:
    row = {"rank": pd.NA, "model": name, "arch": name, "technique": "", "device": "",
           "accuracy": ranked["accuracy"].max() if best else ranked["accuracy"].min(),
           "error": ranked["error"].min() if best else ranked["error"].max(),
           "error_floored": bool(ranked["error_floored"].any()) and best}
    for column in ("size_mb", "gzip_mb", *TIMES.values()):
        row[column] = ranked[column].min() if best else ranked[column].max()
    return _scores(pd.DataFrame([row]))


def pareto_front(costs: np.ndarray) -> np.ndarray:
    """True for the rows no other row dominates (≤ in every column, < in one); minimization."""
    costs = np.asarray(costs, dtype=float)
    no_worse = (costs[:, None, :] <= costs[None, :, :]).all(axis=2)
    better = (costs[:, None, :] < costs[None, :, :]).any(axis=2)
    dominates = no_worse & better  # [i, j]: row i dominates row j
    return ~dominates.any(axis=0)
