"""The curve table: one row per (run, epoch), the contract every stage reads.

A run is identified by its keys (study, dataset, arch, init, lr, seed, device);
`run_id` is derived from them when a file does not carry it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from reusebench.core.errors import InputError
from reusebench.core.io import check_table_path, write_table

RUN_KEYS = ("study", "dataset", "arch", "init", "lr", "seed", "device")
TEXT_KEYS = ("study", "dataset", "arch", "init", "device")
LOSSES = ("train_loss", "test_loss")
REQUIRED = (*RUN_KEYS, "epoch", *LOSSES)
# Always present in a validated table; NaN where a source did not measure them.
MEASURED = ("epoch_seconds", "eval_seconds", "gpu_mem_max_mb", "gpu_util_mean_pct", "gpu_samples")
NUMERIC = ("lr", "seed", "epoch", *LOSSES, *MEASURED)
# Optional numeric columns, checked when present: the constant-prediction loss of the run.
OPTIONAL_NUMERIC = ("reference_loss",)
COLUMNS = ("run_id", *REQUIRED, *MEASURED)
# Seeds and epochs must stay below this: up to it a float holds every whole number exactly.
WHOLE_LIMIT = 2.0**53


def make_run_id(keys: pd.DataFrame) -> pd.Series:
    """Readable, unique id of each row's run keys, e.g. ``A/a10/unet/random/lr0.001/s0/cpu``."""
    lr_text = keys["lr"].map(lambda lr: f"lr{lr:g}")
    seed_text = "s" + keys["seed"].astype("int64").astype(str)
    parts = [keys["study"], keys["dataset"], keys["arch"], keys["init"], lr_text, seed_text,
             keys["device"]]
    run_id = parts[0].astype(str)
    for part in parts[1:]:
        run_id = run_id + "/" + part.astype(str)
    return run_id


def read_curves(path: str | Path) -> pd.DataFrame:
    """Read and validate a curve table from CSV or Parquet."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such curve file.")
    try:
        if path.suffix == ".parquet":
            raw = pd.read_parquet(path)
        elif path.suffix == ".csv":
            raw = pd.read_csv(path, dtype={key: str for key in TEXT_KEYS})
        else:
            raise InputError(f"{path}: a curve file must end in .csv or .parquet.")
    except InputError:
        raise
    except Exception as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{path}: cannot be read as a curve table ({first_line}).") from error
    return validate_curves(raw, source=str(path))


def read_many(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Read several curve files into one validated table; a run may live in one file only."""
    tables = [read_curves(path) for path in paths]
    if not tables:
        raise InputError("No curve files were given.")
    curves = pd.concat(tables, ignore_index=True)
    duplicated = curves.duplicated(["run_id", "epoch"])
    if duplicated.any():
        run_id = curves.loc[duplicated, "run_id"].iloc[0]
        raise InputError(f"Run {run_id} appears in more than one of the given curve files.")
    return curves


def write_curves(curves: pd.DataFrame, path: str | Path) -> None:
    """Write a curve table as CSV or Parquet (by suffix), atomically."""
    check_table_path(path)
    write_table(validate_curves(curves, source=str(path)), path)


def validate_curves(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check a raw table against the contract and return it typed, with run_id and sorted.

    The contract on each run's epochs: whole numbers 1, 2, ..., EP in increasing order,
    none repeated and none missing; a run that starts later (a resumed log) or skips an
    epoch is rejected rather than renumbered, because every metric counts epochs from 1
    (ep*, the stability window, T(M_er) = ep*/EP × time, the fits on the first N epochs).
    Losses are numbers (not booleans, not text) and not negative; NaN and ±inf are kept
    as a diverged epoch. Raises InputError naming the source, the run and the column of
    the first problem.
    """
    if raw.empty:
        raise InputError(f"{source}: holds no curve rows.")
    missing = [column for column in REQUIRED if column not in raw.columns]
    if missing:
        raise InputError(f"{source}: missing required column '{missing[0]}' "
                         f"(required: {', '.join(REQUIRED)}).")
    curves = raw.copy()
    for column in MEASURED:
        if column not in curves.columns:
            curves[column] = np.nan
    _check_text_keys(curves, source)
    labels = curves["run_id"] if "run_id" in curves.columns else _fallback_labels(curves)
    _coerce_numeric(curves, labels.astype(str), source)
    derived = make_run_id(curves)
    if "run_id" in curves.columns:
        curves["run_id"] = curves["run_id"].astype(str)
        _check_run_id_keys(curves, source)
    else:
        curves["run_id"] = derived
    _check_epochs(curves, source)
    _reject_negative_losses(curves, source)
    _check_nonempty_runs(curves, source)
    extra = [column for column in curves.columns if column not in COLUMNS]
    ordered = curves[[*COLUMNS, *extra]]
    return ordered.sort_values(["run_id", "epoch"], kind="stable").reset_index(drop=True)


def _fallback_labels(curves: pd.DataFrame) -> pd.Series:
    """Run labels for error messages before lr and seed are known to be numbers."""
    label = curves["study"].astype(str)
    for key in RUN_KEYS[1:]:
        label = label + "/" + curves[key].astype(str)
    return label


def _check_text_keys(curves: pd.DataFrame, source: str) -> None:
    for key in TEXT_KEYS:
        blank = curves[key].isna() | (curves[key].astype(str).str.strip() == "")
        if blank.any():
            row = int(np.flatnonzero(blank.to_numpy())[0])
            raise InputError(f"{source}: row {row + 1} has an empty value in key column '{key}'.")
        curves[key] = curves[key].astype(str)


def _coerce_numeric(curves: pd.DataFrame, labels: pd.Series, source: str) -> None:
    for column in (*NUMERIC, *(c for c in OPTIONAL_NUMERIC if c in curves.columns)):
        original = curves[column]
        _reject_booleans(original, labels, source, column)
        numbers = pd.to_numeric(original, errors="coerce")
        bad = numbers.isna() & original.notna() & ~_is_nan_text(original)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{source}: run {labels.iloc[row]} has a non-numeric value "
                             f"{original.iloc[row]!r} in column '{column}'.")
        curves[column] = numbers.astype("float64")
    for column in ("lr", "seed", "epoch"):
        values = curves[column].to_numpy()
        bad = ~np.isfinite(values)
        if column in ("seed", "epoch"):
            bad |= np.isfinite(values) & (values != np.round(values))
        if column == "epoch":
            bad |= values < 1
        if column in ("seed", "epoch"):
            bad |= np.abs(values) >= WHOLE_LIMIT
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            kind = "a positive whole number" if column == "epoch" else "a finite number"
            if column == "seed":
                kind = "a whole number"
            if column in ("seed", "epoch"):
                kind += " below 2**53"
            raise InputError(f"{source}: run {labels.iloc[row]} has {float(values[row])!r} in "
                             f"column '{column}', which must be {kind}.")
    curves["seed"] = curves["seed"].astype("int64")
    curves["epoch"] = curves["epoch"].astype("int64")


def _reject_booleans(values: pd.Series, labels: pd.Series, source: str, column: str) -> None:
    """True/False is no number: pandas would read it as 1/0."""
    if values.dtype.kind not in "bO":
        return
    is_bool = (pd.Series(True, index=values.index) if values.dtype.kind == "b"
               else values.map(lambda value: isinstance(value, bool | np.bool_)))
    if is_bool.any():
        row = int(np.flatnonzero(is_bool.to_numpy())[0])
        raise InputError(f"{source}: run {labels.iloc[row]} has the boolean "
                         f"{values.iloc[row]} in column '{column}', which must be a number.")


def _reject_negative_losses(curves: pd.DataFrame, source: str) -> None:
    """A finite loss below zero is rejected (NaN and ±inf mark a diverged epoch)."""
    for column in LOSSES:
        values = curves[column].to_numpy()
        negative = np.isfinite(values) & (values < 0)
        if negative.any():
            row = int(np.flatnonzero(negative)[0])
            raise InputError(f"{source}: run {curves['run_id'].iloc[row]} has the negative loss "
                             f"{float(values[row])!r} at epoch {curves['epoch'].iloc[row]} in "
                             f"column '{column}', which must be zero or positive.")


def _is_nan_text(values: pd.Series) -> pd.Series:
    if values.dtype.kind in "fiub":
        return pd.Series(False, index=values.index)
    text = values.astype(str).str.strip().str.lower()
    return text.isin(["nan", "inf", "-inf", "+inf", "infinity", "-infinity", ""])


def _check_run_id_keys(curves: pd.DataFrame, source: str) -> None:
    key_sets = curves.groupby("run_id", sort=False)[list(RUN_KEYS)].nunique()
    mixed = key_sets.gt(1).any(axis=1)
    if mixed.any():
        run_id = mixed[mixed].index[0]
        column = key_sets.columns[key_sets.loc[run_id].gt(1)][0]
        raise InputError(f"{source}: run {run_id} has more than one value in key column "
                         f"'{column}'.")


def epoch_problem(epochs: Sequence[int] | np.ndarray) -> str | None:
    """What is wrong with one run's epoch numbers (in file order), or None.

    They must be 1, 2, ..., EP: none repeated, increasing, starting at 1, none missing.
    """
    epochs = np.asarray(epochs, dtype="int64")
    values, counts = np.unique(epochs, return_counts=True)
    if (counts > 1).any():
        repeated = int(values[counts > 1][0])
        return (f"epoch {repeated} is a duplicate: it appears {int(counts[counts > 1][0])} "
                "times")
    steps = np.diff(epochs)
    if (steps <= 0).any():
        return f"epochs do not increase at epoch {int(epochs[1:][steps <= 0][0])}"
    if len(epochs) and epochs[0] != 1:
        return f"epochs start at {int(epochs[0])}, not 1"
    if (steps > 1).any():
        return f"epoch {int(epochs[:-1][steps > 1][0]) + 1} is missing"
    return None


def _check_epochs(curves: pd.DataFrame, source: str) -> None:
    """Epochs 1..EP without repeats or gaps, per run (first bad run in file order)."""
    by_run = curves.groupby("run_id", sort=False)["epoch"]
    step = by_run.diff()
    first = ~curves["run_id"].duplicated()
    bad = (step.notna() & (step != 1)) | (first & (curves["epoch"] != 1))
    if bad.any():
        run_id = curves["run_id"].iloc[int(np.flatnonzero(bad.to_numpy())[0])]
        problem = epoch_problem(curves.loc[curves["run_id"] == run_id, "epoch"].to_numpy())
        raise InputError(f"{source}: run {run_id}, column 'epoch': {problem} (epochs must "
                         "run 1, 2, ..., EP without repeats or gaps).")


def _check_nonempty_runs(curves: pd.DataFrame, source: str) -> None:
    # A diverged run carries inf/NaN after some epochs; a run with no loss at all is broken.
    recorded = curves[list(LOSSES)].notna().any(axis=1)
    per_run = recorded.groupby(curves["run_id"], sort=False).any()
    if not per_run.all():
        run_id = per_run.index[~per_run.to_numpy()][0]
        raise InputError(f"{source}: run {run_id} is empty: no value in column 'train_loss' "
                         "or 'test_loss'.")


@dataclass(frozen=True)
class CurveMatrix:
    """Curves of many runs as padded (run × position) arrays; padding is NaN and not valid."""

    run_ids: np.ndarray
    epoch: np.ndarray
    valid: np.ndarray
    values: dict[str, np.ndarray]

    @property
    def n_epochs(self) -> np.ndarray:
        """EP per run: the last recorded epoch number."""
        return np.nanmax(np.where(self.valid, self.epoch, np.nan), axis=1)


def curve_matrix(curves: pd.DataFrame, columns: Sequence[str]) -> CurveMatrix:
    """Pivot a validated curve table (sorted by run_id, epoch) into padded arrays.

    Numeric columns become float arrays padded with NaN; a text column (``loss_kind``) an
    object array padded with None.
    """
    codes, run_ids = pd.factorize(curves["run_id"], sort=False)
    position = curves.groupby(codes, sort=False).cumcount().to_numpy()
    shape = (len(run_ids), int(position.max()) + 1)
    valid = np.zeros(shape, dtype=bool)
    valid[codes, position] = True
    epoch = np.full(shape, np.nan)
    epoch[codes, position] = curves["epoch"].to_numpy(dtype="float64")
    values = {}
    for column in columns:
        data = curves[column]
        if pd.api.types.is_numeric_dtype(data) or data.isna().all():
            matrix = np.full(shape, np.nan)
            matrix[codes, position] = data.to_numpy(dtype="float64")
        else:
            matrix = np.full(shape, None, dtype=object)
            matrix[codes, position] = data.to_numpy(dtype=object)
        values[column] = matrix
    return CurveMatrix(np.asarray(run_ids, dtype=object), epoch, valid, values)


def run_keys(curves: pd.DataFrame) -> pd.DataFrame:
    """One row per run: run_id and its keys, in the order the run first appears."""
    return curves.drop_duplicates("run_id")[["run_id", *RUN_KEYS]].reset_index(drop=True)
