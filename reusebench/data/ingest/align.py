"""A run's chosen series → one row per epoch (epoch, losses, epoch_seconds, task metrics).

Step → epoch:

- with an epoch tag (Lightning logs ``epoch``; CSV logs have an epoch column): each value
  belongs to the epoch the epoch tag holds at the same or the closest earlier step;
  epochs counted from 0 are shifted to start at 1;
- without one, when the train and the test tag hold as many values each, the k-th value of
  each (in step order) is epoch k: loggers often write the train loss at an epoch's first
  step and the test loss at its last, so equal steps would not pair them;
- otherwise the steps of the sparser tag end the epochs, and each value of a denser tag
  belongs to the first epoch ending at or after its step (values after the last end are
  an unfinished epoch and left out).

Several values in one epoch are averaged (per-batch losses → the epoch's mean loss);
durations are summed. An epoch missing the train or the test loss is left out. With an
epoch tag, a second test loss in one epoch is a repeated epoch (a resumed or appended
log: a Keras CSVLogger row written twice) and an InputError, never averaged.

Epoch seconds: from the epoch-time tag when there is one, in ``time_unit`` seconds, or
with ``auto`` in the unit (ms, s, min, h) that brings its median closest to the median
wall-clock time between test-loss events; else from that wall-clock time itself (training
plus evaluation; the first epoch counts from when the log was opened); else NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reusebench.core.errors import InputError
from reusebench.data.ingest.runlog import RunLog, Series
from reusebench.data.ingest.tags import TagChoice

TIME_UNITS = {"ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Aligned:
    """One run's per-epoch rows and how they were made."""

    rows: pd.DataFrame
    epoch_rule: str
    time_source: str
    left_out: int  # epochs with only one of the two losses


def align_run(run: RunLog, choice: TagChoice, time_unit: str = "auto") -> Aligned:
    train, test = run.series[choice.train], run.series[choice.test]
    if choice.epoch is not None:
        epochs_of, shift = _by_epoch_tag(run.series[choice.epoch], run)
        _reject_repeated_epochs(run, choice, epochs_of(test) - shift)
        rule = f"epoch tag {choice.epoch!r}"
    elif len(train) == len(test):
        ends = test.steps
        epochs_of = _by_order_or_bucket(ends)
        rule = "k-th train and test value = epoch k"
    else:
        ends = (train if len(train) < len(test) else test).steps
        epochs_of = _by_order_or_bucket(ends)
        rule = f"{len(ends)} epochs ended by the steps of the sparser loss tag"
    train_mean = _per_epoch(train, epochs_of(train), "mean")
    test_mean = _per_epoch(test, epochs_of(test), "mean")
    kept = train_mean.index.intersection(test_mean.index)
    if kept.empty:
        raise InputError(f"{run.source}: no epoch holds both a train loss "
                         f"({choice.train!r}) and a test loss ({choice.test!r}).")
    left_out = len(train_mean.index.union(test_mean.index)) - len(kept)
    rows = pd.DataFrame({"epoch": kept.to_numpy(dtype="int64"),
                         "train_loss": train_mean[kept].to_numpy(),
                         "test_loss": test_mean[kept].to_numpy()})
    seconds, time_source = _epoch_seconds(run, choice, epochs_of, test, time_unit)
    rows["epoch_seconds"] = seconds.reindex(kept).to_numpy()
    for column, tag in choice.task.items():
        series = run.series[tag]
        rows[column] = _per_epoch(series, epochs_of(series), "mean").reindex(kept).to_numpy()
    return Aligned(rows, rule, time_source, left_out)


def _by_epoch_tag(epoch_series: Series, run: RunLog):
    counter = epoch_series.values
    if not len(counter) or not np.all(np.isfinite(counter)) or np.any(counter < 0) or \
            np.any(counter != np.round(counter)):
        raise InputError(f"{run.source}: the epoch counter holds values that are not whole "
                         "numbers from 0 up.")
    shift = 1 if counter.min() == 0 else 0

    def epochs_of(series: Series) -> np.ndarray:
        at = np.searchsorted(epoch_series.steps, series.steps, side="right") - 1
        return counter[np.clip(at, 0, None)].astype("int64") + shift

    return epochs_of, shift


def _reject_repeated_epochs(run: RunLog, choice: TagChoice, logged_epochs: np.ndarray) -> None:
    """InputError when the test loss has more than one value in an epoch of the counter."""
    values, counts = np.unique(logged_epochs, return_counts=True)
    if (counts > 1).any():
        epoch, count = int(values[counts > 1][0]), int(counts[counts > 1][0])
        raise InputError(f"{run.source}: run {run.name}, column {choice.epoch!r}: epoch {epoch} "
                         f"appears {count} times with a test loss ({choice.test!r}): a repeated "
                         "epoch, as a resumed or appended log writes, is not averaged.")


def _by_order_or_bucket(ends: np.ndarray):
    def epochs_of(series: Series) -> np.ndarray:
        if len(series) == len(ends):
            return np.arange(1, len(ends) + 1)
        epoch = np.searchsorted(ends, series.steps, side="left") + 1
        return np.where(epoch <= len(ends), epoch, 0)  # 0: after the last epoch's end

    return epochs_of


def _per_epoch(series: Series, epochs: np.ndarray, reduce: str, values=None) -> pd.Series:
    """``reduce`` ("mean", "sum", "max") of the values in each epoch; a NaN loss stays NaN
    (a diverged batch is a diverged epoch); epoch 0 = not in any epoch."""
    values = series.values if values is None else values
    keep = epochs > 0
    frame = pd.DataFrame({"epoch": epochs[keep], "value": values[keep]})
    return frame.groupby("epoch", sort=True)["value"].agg(reduce, skipna=reduce != "mean")


def _epoch_seconds(run: RunLog, choice: TagChoice, epochs_of, test: Series,
                   time_unit: str) -> tuple[pd.Series, str]:
    test_epochs = epochs_of(test)
    wall_end = _per_epoch(test, test_epochs, "max", values=test.walls)
    wall_seconds = wall_end.diff()
    if len(wall_seconds):
        wall_seconds.iloc[0] = wall_end.iloc[0] - run.start_wall
    if choice.time is not None:
        series = run.series[choice.time]
        logged = _per_epoch(series, epochs_of(series), "sum")
        unit_name, unit = _time_unit(run, logged, wall_seconds, time_unit)
        return logged * unit, f"tag {choice.time!r} in {unit_name}"
    if wall_seconds.notna().any():
        return wall_seconds, f"wall clock between {choice.test!r} events"
    return wall_seconds, "not recorded (NaN)"


def _time_unit(run: RunLog, logged: pd.Series, wall_seconds: pd.Series,
               time_unit: str) -> tuple[str, float]:
    if run.time_unit is not None:
        return next((name for name, unit in TIME_UNITS.items() if unit == run.time_unit),
                    f"{run.time_unit:g} s"), run.time_unit
    if time_unit != "auto":
        return time_unit, TIME_UNITS[time_unit]
    both = pd.concat([logged, wall_seconds], axis=1, join="inner").dropna()
    both = both[(both.iloc[:, 0] > 0) & (both.iloc[:, 1] > 0)]
    if both.empty:
        return "s (assumed: no wall clock to compare)", 1.0
    ratio = float(np.median(both.iloc[:, 1]) / np.median(both.iloc[:, 0]))
    name = min(TIME_UNITS, key=lambda unit: abs(np.log(ratio / TIME_UNITS[unit])))
    return f"{name} (by wall clock)", TIME_UNITS[name]
