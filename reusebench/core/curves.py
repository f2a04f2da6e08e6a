"""The curve table: one row per (run, epoch), the contract every stage reads.

A run is identified by its keys (study, dataset, arch, init, lr, seed, device);
`run_id` is derived from them when a file does not carry it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
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
    """Readable, unique id of each row's run keys, e.g. ``A/a10/unet/random/lr0.001/s0/cpu``.

    Rows of one run share their keys, so each distinct key combination is spelled once and
    its text repeated (the table of 100,000 runs × 100 epochs: one text per run, not per row).
    """
    groups = _key_groups(keys)
    if groups is None:
        return _spell_run_ids(keys)
    codes, first = groups
    spelled = _spell_run_ids(keys.iloc[first])
    return pd.Series(spelled.array.take(codes), index=keys.index, name=spelled.name)


def _spell_run_ids(keys: pd.DataFrame) -> pd.Series:
    lr_text = keys["lr"].map(lambda lr: f"lr{lr:g}")
    seed_text = "s" + keys["seed"].astype("int64").astype(str)
    parts = [keys["study"], keys["dataset"], keys["arch"], keys["init"], lr_text, seed_text,
             keys["device"]]
    run_id = parts[0].astype(str)
    for part in parts[1:]:
        run_id = run_id + "/" + part.astype(str)
    return run_id


def _key_groups(keys: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """A code per row, equal only for rows whose run id is spelled alike, and a first row per
    code; None where grouping would not save work (or lr / seed are not plain numbers)."""
    if len(keys) < 2:
        return None
    columns = []
    for key in RUN_KEYS:
        values = keys[key]
        if key in ("lr", "seed"):
            kind = values.dtype.kind if isinstance(values.dtype, np.dtype) else "O"
            if kind not in "fiu":
                return None  # e.g. 1 and Decimal("1.0") are equal but spelled apart
            values = values.to_numpy()
            if kind == "f":  # by bit pattern: 0.0 and -0.0 are spelled apart
                values = values.astype("float64").view("int64")
            columns.append(pd.factorize(values)[0])
        else:
            columns.append(pd.factorize(values.astype(str), use_na_sentinel=False)[0])
    codes = columns[0].astype("int64")
    for column in columns[1:]:
        size = int(column.max()) + 1
        if int(codes.max()) >= (1 << 62) // size:  # too many combinations to pack: renumber
            codes = pd.factorize(codes)[0].astype("int64")
        codes = codes * size + column
    codes, uniques = pd.factorize(codes)
    if len(uniques) * 2 > len(keys):
        return None
    first = np.empty(len(uniques), dtype="int64")
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return codes, first


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
    curves = raw.copy(deep=False)  # copy-on-write: replacing a column never touches raw
    for column in MEASURED:
        if column not in curves.columns:
            curves[column] = np.nan
    given = "run_id" in curves.columns
    # a run_id given is only made text: its runs are known before any check
    run_id = curves["run_id"].astype(str) if given else None
    runs = _Runs(run_id) if given else None
    key_changes = _check_text_keys(curves, runs, source)
    label = _labeller(curves)
    _coerce_numeric(curves, label, source)
    if given:
        curves["run_id"] = run_id
        _check_run_id_keys(curves, runs, key_changes, source)
    else:
        curves["run_id"] = make_run_id(curves)
        runs = _Runs(curves["run_id"])
    _check_epochs(curves, runs, source)
    _reject_negative_losses(curves, source)
    _check_nonempty_runs(curves, runs, source)
    extra = [column for column in curves.columns if column not in COLUMNS]
    ordered = curves[[*COLUMNS, *extra]]
    return _sorted_by_run_and_epoch(ordered, runs)


class _Runs:
    """The runs of a table as integers: ``codes`` per row (-1 where run_id is missing),
    ``ids`` in order of first appearance, the ``first`` row of each. ``contiguous`` when
    each run's rows are together (the usual layout, which the checks take a shorter way
    through); then ``same_as_previous`` says which rows continue the run of the row before."""

    def __init__(self, run_id: pd.Series):
        count = len(run_id)
        self.missing = bool(run_id.isna().any())
        self.contiguous, self.same_as_previous = False, None
        if not self.missing:
            values = run_id.array
            starts = np.flatnonzero(np.concatenate(
                [[True], np.asarray(values[1:] != values[:-1], dtype=bool)]))
            ids = pd.Index(values.take(starts))
            if ids.is_unique:  # no run comes back after another one began
                self.contiguous, self.ids, self.first = True, ids, starts
                self.same_as_previous = np.ones(count - 1, dtype=bool)
                self.same_as_previous[starts[1:] - 1] = False
                self._codes = None  # made when asked for
                return
        codes, self.ids = pd.factorize(run_id)
        self._codes = codes.astype("int64")
        self.first = np.empty(len(self.ids), dtype="int64")
        named = np.flatnonzero(codes >= 0)
        self.first[self._codes[named[::-1]]] = named[::-1]

    @property
    def codes(self) -> np.ndarray:
        if self._codes is None:
            lengths = np.diff(self.first, append=len(self.same_as_previous) + 1)
            self._codes = np.repeat(np.arange(len(self.first)), lengths)
        return self._codes

    def any(self, rows: np.ndarray) -> np.ndarray:
        """Per run: whether it has any of the given rows (a boolean mask)."""
        if self.contiguous:
            return np.logical_or.reduceat(rows, self.first) if len(rows) else rows
        return np.bincount(self.codes[rows & (self.codes >= 0)], minlength=len(self.ids)) > 0


def _labeller(curves: pd.DataFrame) -> Callable[[int], str]:
    """Row -> run label for error messages, from the run_id column (as text) or, before lr
    and seed are known to be numbers, from the key columns as given; made only when needed."""
    if "run_id" in curves.columns:
        run_id = curves["run_id"]
        return lambda row: run_id.iloc[[row]].astype(str).iloc[0]
    keys = curves[list(RUN_KEYS)]  # copy-on-write: keeps the values as they are now
    return lambda row: _fallback_labels(keys.iloc[[row]]).iloc[0]


def _fallback_labels(curves: pd.DataFrame) -> pd.Series:
    """Run labels for error messages before lr and seed are known to be numbers."""
    label = curves["study"].astype(str)
    for key in RUN_KEYS[1:]:
        label = label + "/" + curves[key].astype(str)
    return label


def _check_text_keys(curves: pd.DataFrame, runs: _Runs | None,
                     source: str) -> dict[str, np.ndarray]:
    """Reject the first empty key (in row order) and make the key columns text.

    Returns, per key, where it differs from the row before within a run (contiguous runs)
    or codes equal for equal text (otherwise), for ``_check_run_id_keys``. Where every run
    holds one value of a key, only the first row of each run is looked at for blanks."""
    found = {}
    for key in TEXT_KEYS:
        original = curves[key]
        text = original.astype(str)
        missing = original.isna().to_numpy()
        if runs is not None and runs.contiguous:
            values = text.array
            changes = runs.same_as_previous & np.asarray(values[1:] != values[:-1], dtype=bool)
            found[key] = changes
        if runs is not None and runs.contiguous and not changes.any():
            blank = missing.copy()  # and where a run's first row is blank, so is its run
            blank[runs.first] |= _blank(text.iloc[runs.first])
            blank_rows = np.flatnonzero(blank)
        else:
            codes, unique = pd.factorize(text)  # missing text: -1, looked up as blank
            blank_rows = np.flatnonzero(missing | np.append(_blank(unique), True)[codes])
            if key not in found:
                found[key] = codes
        if blank_rows.size:
            raise InputError(f"{source}: row {int(blank_rows[0]) + 1} has an empty value in "
                             f"key column '{key}'.")
        curves[key] = text
    return found


def _blank(text: pd.Series | pd.Index) -> np.ndarray:
    return np.asarray(text.str.strip() == "", dtype=bool)


def _coerce_numeric(curves: pd.DataFrame, label: Callable[[int], str], source: str) -> None:
    for column in (*NUMERIC, *(c for c in OPTIONAL_NUMERIC if c in curves.columns)):
        original = curves[column]
        _reject_booleans(original, label, source, column)
        if column in ("seed", "epoch") and isinstance(original.dtype, np.dtype) \
                and original.dtype.kind in "iu":  # whole numbers already: checked as they are
            continue
        if original.dtype.kind in "fiu":  # numbers already: nothing to coerce
            numbers = original
        else:
            numbers = pd.to_numeric(original, errors="coerce")
            bad = numbers.isna() & original.notna() & ~_is_nan_text(original)
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(f"{source}: run {label(row)} has a non-numeric value "
                                 f"{original.iloc[row]!r} in column '{column}'.")
        curves[column] = numbers.astype("float64")
    for column in ("lr", "seed", "epoch"):
        values = curves[column].to_numpy()
        if values.dtype.kind in "iu":  # seed or epoch as integers: finite and whole
            bad = (values >= WHOLE_LIMIT) | (values <= -WHOLE_LIMIT)  # compared as floats
        else:
            bad = ~np.isfinite(values)
            if column in ("seed", "epoch"):
                bad |= np.isfinite(values) & (values != np.round(values))
                bad |= np.abs(values) >= WHOLE_LIMIT
        if column == "epoch":
            bad |= values < 1
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            kind = "a positive whole number" if column == "epoch" else "a finite number"
            if column == "seed":
                kind = "a whole number"
            if column in ("seed", "epoch"):
                kind += " below 2**53"
            raise InputError(f"{source}: run {label(row)} has {float(values[row])!r} in "
                             f"column '{column}', which must be {kind}.")
    curves["seed"] = curves["seed"].astype("int64")
    curves["epoch"] = curves["epoch"].astype("int64")


def _reject_booleans(values: pd.Series, label: Callable[[int], str], source: str,
                     column: str) -> None:
    """True/False is no number: pandas would read it as 1/0."""
    if values.dtype.kind not in "bO":
        return
    is_bool = (pd.Series(True, index=values.index) if values.dtype.kind == "b"
               else values.map(lambda value: isinstance(value, bool | np.bool_)))
    if is_bool.any():
        row = int(np.flatnonzero(is_bool.to_numpy())[0])
        raise InputError(f"{source}: run {label(row)} has the boolean "
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


def _check_run_id_keys(curves: pd.DataFrame, runs: _Runs, key_changes: dict[str, np.ndarray],
                       source: str) -> None:
    """Each run_id names one run: all its rows share every key (first run and key named).

    ``key_changes`` as ``_check_text_keys`` returns it."""
    mixed = {}
    for key in RUN_KEYS:
        if runs.contiguous:  # equal to the row before within each run = equal throughout
            differs = np.zeros(len(curves), dtype=bool)
            if key in key_changes:
                differs[1:] = key_changes[key]
            else:
                values = curves[key].to_numpy()
                differs[1:] = runs.same_as_previous & (values[1:] != values[:-1])
        else:
            values = key_changes[key] if key in key_changes else curves[key].to_numpy()
            valid = runs.codes >= 0
            differs = np.zeros(len(curves), dtype=bool)
            differs[valid] = values[valid] != values[runs.first[runs.codes[valid]]]
        if differs.any():
            mixed[key] = runs.any(differs)
    if mixed:
        run = int(np.flatnonzero(np.logical_or.reduce(list(mixed.values())))[0])
        column = next(key for key, per_run in mixed.items() if per_run[run])
        raise InputError(f"{source}: run {runs.ids[run]} has more than one value in key column "
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


def _check_epochs(curves: pd.DataFrame, runs: _Runs, source: str) -> None:
    """Epochs 1..EP without repeats or gaps, per run (first bad row in file order)."""
    epoch = curves["epoch"].to_numpy()
    bad = np.zeros(len(epoch), dtype=bool)
    if runs.contiguous:  # each row's predecessor in its run is the row before
        bad[1:] = runs.same_as_previous & (epoch[1:] - epoch[:-1] != 1)
    else:
        order = np.argsort(runs.codes, kind="stable")
        later = order[1:]
        same = (runs.codes[later] == runs.codes[order[:-1]]) & (runs.codes[later] >= 0)
        bad[later[same & (epoch[later] - epoch[order[:-1]] != 1)]] = True
    first = np.zeros(len(epoch), dtype=bool)  # the first row of each run
    first[runs.first] = True
    if runs.missing:  # rows without a run_id count as one run here
        first[int(np.flatnonzero(runs.codes < 0)[0])] = True
    bad |= first & (epoch != 1)
    if bad.any():
        run_id = curves["run_id"].iloc[int(np.flatnonzero(bad)[0])]
        problem = epoch_problem(curves.loc[curves["run_id"] == run_id, "epoch"].to_numpy())
        raise InputError(f"{source}: run {run_id}, column 'epoch': {problem} (epochs must "
                         "run 1, 2, ..., EP without repeats or gaps).")


def _check_nonempty_runs(curves: pd.DataFrame, runs: _Runs, source: str) -> None:
    # A diverged run carries inf/NaN after some epochs; a run with no loss at all is broken.
    recorded = ~np.logical_and.reduce([np.isnan(curves[column].to_numpy()) for column in LOSSES])
    empty = ~runs.any(recorded)
    if empty.any():
        run_id = runs.ids[int(np.flatnonzero(empty)[0])]
        raise InputError(f"{source}: run {run_id} is empty: no value in column 'train_loss' "
                         "or 'test_loss'.")


def _sorted_by_run_and_epoch(curves: pd.DataFrame, runs: _Runs) -> pd.DataFrame:
    """``sort_values(["run_id", "epoch"], kind="stable")`` with a fresh index. The epochs of
    each run are 1..EP in file order by now, so ordering the runs is enough; a table written
    in that order (the usual case) is returned as it is."""
    if runs.missing:
        return curves.sort_values(["run_id", "epoch"], kind="stable").reset_index(drop=True)
    if runs.contiguous and runs.ids.is_monotonic_increasing:
        return curves.reset_index(drop=True)
    by_id = np.asarray(runs.ids.argsort())  # the runs in sorted order
    if runs.contiguous:  # the rows of each run in turn
        lengths = np.diff(runs.first, append=len(curves))[by_id]
        shift = runs.first[by_id] - (np.cumsum(lengths) - lengths)
        order = np.arange(len(curves)) + np.repeat(shift, lengths)
    else:
        rank = np.empty(len(runs.ids), dtype="int64")
        rank[by_id] = np.arange(len(runs.ids))
        order = np.argsort(rank[runs.codes], kind="stable")
    return _take_rows(curves, order)


def _take_rows(curves: pd.DataFrame, order: np.ndarray) -> pd.DataFrame:
    """``curves.take(order).reset_index(drop=True)``, the columns taken on threads (numpy's
    and Arrow's take release the GIL: a table of 10 million rows is sorted in about half the
    time on two cores)."""
    if not curves.columns.is_unique:
        return curves.take(order).reset_index(drop=True)

    def taken(column: pd.Series):
        if isinstance(column.dtype, np.dtype):
            return np.take(column.to_numpy(), order)
        return column.array.take(order)

    columns = [curves[name] for name in curves.columns]
    workers = min(4, os.cpu_count() or 1)
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            columns = list(pool.map(taken, columns))
    else:
        columns = [taken(column) for column in columns]
    result = pd.DataFrame(dict(zip(range(len(columns)), columns, strict=True)), copy=False)
    result.columns = curves.columns
    return result.__finalize__(curves)


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
