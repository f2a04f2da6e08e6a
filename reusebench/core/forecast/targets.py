"""The curve each forecast is about: the test loss, or 1 − test accuracy where a run has no loss.

Accuracy-only logs (NAS-Bench style records, trackers that log only accuracy) have no loss
column, so the curve table's validation would reject them as empty; here such a run's
``test_loss`` is filled with ``1 − test_accuracy`` before validation and the run's target
is named ``1-test_accuracy`` in every output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from reusebench.core.curves import (
    LOSSES,
    RUN_KEYS,
    TEXT_KEYS,
    curve_matrix,
    run_keys,
    validate_curves,
)
from reusebench.core.errors import InputError

LOSS_TARGET = "test_loss"
ERROR_TARGET = "1-test_accuracy"
ACCURACY = "test_accuracy"
TARGET_COLUMN = "_forecast_target"


@dataclass(frozen=True)
class Targets:
    """Per run: keys (one row each), target curve (runs × epochs, NaN padded), EP, target name."""

    runs: pd.DataFrame
    values: np.ndarray
    length: np.ndarray
    kind: np.ndarray


def read_targets(paths: Iterable[str | Path]) -> Targets:
    """Read curve files (.csv/.parquet) into forecast targets; InputError on bad input."""
    tables = [_read_one(Path(path)) for path in paths]
    if not tables:
        raise InputError("No curve files were given.")
    curves = pd.concat(tables, ignore_index=True)
    duplicated = curves.duplicated(["run_id", "epoch"])
    if duplicated.any():
        raise InputError(f"Run {curves.loc[duplicated, 'run_id'].iloc[0]} appears in more than "
                         "one of the given curve files.")
    return targets_of(curves)


def targets_of(curves: pd.DataFrame) -> Targets:
    """Targets of a validated curve table (sorted by run and epoch, as validation leaves it)."""
    matrix = curve_matrix(curves, [LOSS_TARGET])
    runs = run_keys(curves)
    kind = (curves.groupby("run_id", sort=False)[TARGET_COLUMN].first()
            if TARGET_COLUMN in curves.columns else pd.Series(LOSS_TARGET, index=runs["run_id"]))
    return Targets(runs, matrix.values[LOSS_TARGET], matrix.valid.sum(axis=1),
                   kind.reindex(runs["run_id"]).fillna(LOSS_TARGET).to_numpy(dtype=object))


def _read_one(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: no such curve file.")
    if path.suffix not in (".csv", ".parquet"):
        raise InputError(f"{path}: a curve file must end in .csv or .parquet.")
    try:
        raw = (pd.read_parquet(path) if path.suffix == ".parquet"
               else pd.read_csv(path, dtype={key: str for key in TEXT_KEYS}))
    except Exception as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{path}: cannot be read as a curve table ({first_line}).") from error
    return validate_curves(with_error_targets(raw, str(path)), source=str(path))


def with_error_targets(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """The raw table with 1 − test_accuracy as test_loss for runs that have no test loss."""
    raw = raw.copy()
    for column in LOSSES:
        if column not in raw.columns:
            raw[column] = np.nan
    raw[TARGET_COLUMN] = LOSS_TARGET
    if ACCURACY not in raw.columns or raw.empty:
        return raw
    accuracy = pd.to_numeric(raw[ACCURACY], errors="coerce")
    outside = np.isfinite(accuracy) & ((accuracy < 0) | (accuracy > 1))
    if outside.any():
        raise InputError(f"{source}: column '{ACCURACY}' holds {accuracy[outside].iloc[0]!r}; "
                         "accuracy must be a fraction in [0, 1] (divide percentages by 100).")
    loss = pd.to_numeric(raw[LOSS_TARGET], errors="coerce")
    group = [key for key in ("run_id",) if key in raw.columns] or [
        key for key in RUN_KEYS if key in raw.columns]
    if not group:
        return raw  # validation names the missing key columns
    labels = [raw[key].astype(str) for key in group]
    has_loss = np.isfinite(loss).groupby(labels).transform("any").to_numpy()
    has_accuracy = np.isfinite(accuracy).groupby(labels).transform("any").to_numpy()
    error_run = ~has_loss & has_accuracy
    raw.loc[error_run, LOSS_TARGET] = 1.0 - accuracy[error_run]
    raw.loc[error_run, TARGET_COLUMN] = ERROR_TARGET
    return raw


NASBENCH_STUDY = "nasbench"
NASBENCH_STAGES = ("halfway", "final")


def nasbench_curves(records: pd.DataFrame, source: str, split: str = "test") -> pd.DataFrame:
    """NAS-Bench-101 records as a curve table: one run per cell, its accuracy contour.

    NAS-Bench-101 records no losses and trains each epoch budget separately; a cell's curve
    is its ``split`` accuracy at every evaluation epoch (the halfway and final evaluation
    of each budget), averaged over repeats and over budgets evaluated at the same epoch, in
    epoch order: the contour Study A's NAS-Bench-101 paragraph reads. Its forecast target
    is 1 − accuracy (:func:`with_error_targets`). Column ``epoch`` numbers the evaluation
    points 1, 2, … (a curve table's epochs run without gaps, so a forecast's N counts
    evaluation points); ``nasbench_epoch`` holds the training epoch of each. Keys: study
    ``nasbench``, dataset = ``source``, arch = the cell's module hash, init ``random``,
    lr 0 and device ``unknown`` (not recorded), seed 0.
    """
    needed = ["module_hash", *(f"{stage}_{name}" for stage in NASBENCH_STAGES
                               for name in ("epoch", f"{split}_accuracy"))]
    missing = [column for column in needed if column not in records.columns]
    if missing:
        raise InputError(f"NAS-Bench-101 records of {source} lack the column '{missing[0]}'.")
    points = pd.concat([records[["module_hash", f"{stage}_epoch", f"{stage}_{split}_accuracy"]]
                        .set_axis(["arch", "epoch", ACCURACY], axis=1)
                        for stage in NASBENCH_STAGES], ignore_index=True)
    epoch = pd.to_numeric(points["epoch"], errors="coerce")
    usable = (epoch >= 1) & (epoch == np.floor(epoch)) & points[ACCURACY].notna()
    points = points[usable].assign(epoch=epoch[usable].astype("int64"))
    curves = (points.groupby(["arch", "epoch"], as_index=False, sort=True)[ACCURACY].mean()
              .rename(columns={"epoch": "nasbench_epoch"}))
    curves.insert(1, "epoch", curves.groupby("arch").cumcount() + 1)
    curves.insert(0, "study", NASBENCH_STUDY)
    curves.insert(1, "dataset", source)
    for position, (key, value) in enumerate((("init", "random"), ("lr", 0.0), ("seed", 0),
                                             ("device", "unknown"))):
        curves.insert(3 + position, key, value)
    return curves.reset_index(drop=True)
