"""Outside training logs → one validated curve table (``reusebench ingest``).

SOURCE may be a file or a folder (``discover`` says which reader reads what): TensorBoard
event files, CSV logs (Keras, Lightning, the Study A authors'), and the stores of
experiment trackers (MLflow, W&B offline runs, Optuna, Ray Tune, Sacred). ``--format``
names the format instead of detecting it.

Per run: the loss (or accuracy) tags are chosen (``tags``), steps become epochs
(``align``), the keys are set (``runkeys``). Accuracy curves become losses 1 − accuracy,
the accuracies kept as ``train_accuracy`` / ``test_accuracy`` and every row of the table
marked in ``loss_kind`` ("loss" or "1 - accuracy"); a run without a train-side tag gets
``train_loss`` NaN. Tracker runs carry their ``run_state``. A tracker run whose metrics name
no loss or accuracy is left out with the reason (an error when no run is left); runs the
readers left out (deleted, no metrics) are counted in the summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from reusebench.core.curves import RUN_KEYS, epoch_problem, validate_curves, write_curves
from reusebench.core.errors import InputError
from reusebench.core.io import check_table_path
from reusebench.data.ingest.align import TIME_UNITS, Aligned, align_run
from reusebench.data.ingest.discover import FORMATS, ReadOptions, read_sources
from reusebench.data.ingest.runkeys import KeyOptions, check_distinct, run_keys
from reusebench.data.ingest.runlog import RunLog
from reusebench.data.ingest.tags import ACCURACY, NoMetricTags, TagChoice, choose_tags
from reusebench.data.ingest.tracked import Skipped, TrackedRun

__all__ = ["FORMATS", "IngestOptions", "IngestedRun", "headline", "ingest_logs",
           "ingest_to_file", "summary_lines"]
LOSS_KIND_COLUMN, STATE_COLUMN = "loss_kind", "run_state"
FROM_ACCURACY = "1 - accuracy"


@dataclass(frozen=True)
class IngestOptions:
    """What ``reusebench ingest`` was told besides its sources and output."""

    fmt: str = "auto"
    train_tag: str | None = None
    test_tag: str | None = None
    epoch_tag: str | None = None
    time_unit: str = "auto"
    keys: KeyOptions = field(default_factory=KeyOptions)
    keep_partial: bool = False  # W&B: keep the records before a cut or corrupt one
    value_is: str = "auto"  # Optuna: intermediate values are a loss or an accuracy


@dataclass(frozen=True)
class IngestedRun:
    """How one run was read (or why it was left out): for the summary a user sees."""

    run_id: str
    source: Path
    fmt: str
    train_tag: str
    test_tag: str
    epoch_rule: str
    time_source: str
    epochs: int
    left_out: int
    kind: str = "loss"
    skipped: str = ""  # why the run was left out; "" = read


@dataclass(frozen=True)
class _Prepared:
    run: RunLog
    choice: TagChoice
    aligned: Aligned
    keys: dict[str, object]


def ingest_logs(sources: Sequence[str | Path],
                options: IngestOptions = IngestOptions()) -> tuple[pd.DataFrame,
                                                                    list[IngestedRun]]:
    """The validated curve table of every run in ``sources``, and how each was read (runs
    left out included, with ``skipped`` set)."""
    if options.time_unit != "auto" and options.time_unit not in TIME_UNITS:
        raise InputError(f"--time-unit must be auto or one of {', '.join(TIME_UNITS)}, not "
                         f"{options.time_unit!r}.")
    read = read_sources(sources, ReadOptions(options.fmt, options.keep_partial,
                                             options.value_is))
    prepared, skipped = _prepare(read.runs, options, list(read.skipped))
    if not prepared:
        reasons = ", ".join(sorted({item.reason for item in skipped})) or "none found"
        raise InputError(f"{', '.join(map(str, sources))}: no run to ingest (runs left out: "
                         f"{reasons}).")
    run_ids = check_distinct([item.keys for item in prepared],
                             [item.run.source for item in prepared])
    for item, run_id in zip(prepared, run_ids, strict=True):
        _check_run_epochs(item.run, run_id, item.aligned.rows["epoch"].to_numpy())
    curves = _mark_loss_kind(_with_keys(prepared))
    report = [_report(item, run_id) for item, run_id in zip(prepared, run_ids, strict=True)]
    report += [IngestedRun(item.name, item.source, item.fmt, "", "", "", "", 0, 0,
                           skipped=item.reason) for item in skipped]
    return validate_curves(curves, source=", ".join(map(str, sources))), report


def _prepare(runs: list[RunLog], options: IngestOptions,
             skipped: list[Skipped]) -> tuple[list[_Prepared], list[Skipped]]:
    """Tags, epochs and keys of each run; tracker runs naming no loss are left out."""
    prepared, first_error = [], None
    for run in runs:
        try:
            choice = choose_tags(run, options.train_tag, options.test_tag, options.epoch_tag)
        except NoMetricTags as error:
            if not isinstance(run, TrackedRun):
                raise
            first_error = first_error or error
            skipped.append(Skipped(run.name, run.source, run.fmt,
                                   "no loss or accuracy metric recognised"))
            continue
        aligned = _align(run, choice, options.time_unit)
        prepared.append(_Prepared(run, choice, aligned,
                                  run_keys(run.name, run.stated_keys, options.keys)))
    if not prepared and first_error is not None:
        raise first_error
    return prepared, skipped


def _align(run: RunLog, choice: TagChoice, time_unit: str) -> Aligned:
    """Per-epoch rows; a run without a train tag is aligned on its test tag alone."""
    if choice.train is None:
        aligned = align_run(run, replace(choice, train=choice.test), time_unit)
        aligned = replace(aligned, rows=aligned.rows.assign(train_loss=np.nan),
                          epoch_rule=aligned.epoch_rule.replace("k-th train and test value",
                                                                "k-th value"))
    else:
        aligned = _align_by_order(run, choice) or align_run(run, choice, time_unit)
    if choice.kind == ACCURACY:
        aligned = replace(aligned, rows=_from_accuracy(aligned.rows, run, choice))
    return aligned


def _align_by_order(run: RunLog, choice: TagChoice) -> Aligned | None:
    """``align_run``'s result for its simplest case, without its per-series groupbys (a
    store of thousands of runs is mostly this case): no epoch or time tag, the train and
    test tag (and every task tag) hold as many values, so the k-th value of each is epoch
    k. None for any other run."""
    train, test = run.series[choice.train], run.series[choice.test]
    tasks = {column: run.series[tag] for column, tag in choice.task.items()}
    if choice.epoch is not None or choice.time is not None or len(train) != len(test) or \
            not len(test) or any(len(series) != len(test) for series in tasks.values()):
        return None
    seconds = np.diff(test.walls, prepend=run.start_wall)
    rows = pd.DataFrame({"epoch": np.arange(1, len(test) + 1, dtype="int64"),
                         "train_loss": train.values, "test_loss": test.values,
                         "epoch_seconds": seconds,
                         **{column: series.values for column, series in tasks.items()}})
    timed = np.isfinite(seconds).any()
    return Aligned(rows, "k-th train and test value = epoch k",
                   f"wall clock between {choice.test!r} events" if timed else
                   "not recorded (NaN)", 0)


def _from_accuracy(rows: pd.DataFrame, run: RunLog, choice: TagChoice) -> pd.DataFrame:
    """Accuracies in the loss columns → losses 1 − accuracy; the accuracies kept."""
    rows = rows.copy()
    for side, tag in (("train", choice.train), ("test", choice.test)):
        if tag is None:
            continue
        accuracy = rows[f"{side}_loss"].to_numpy(dtype="float64")
        outside = np.isfinite(accuracy) & ((accuracy < 0) | (accuracy > 1))
        if outside.any():
            raise InputError(f"{run.source}: run {run.name}, tag {tag!r} holds "
                             f"{float(accuracy[outside][0])!r}, which is no accuracy in [0, 1] "
                             "(a percentage?); name the loss tags with --train-tag and "
                             "--test-tag.")
        rows[f"{side}_accuracy"] = accuracy
        rows[f"{side}_loss"] = 1.0 - accuracy
    rows[LOSS_KIND_COLUMN] = FROM_ACCURACY
    return rows


def _with_keys(prepared: list[_Prepared]) -> pd.DataFrame:
    """All runs' rows in one table, with each run's keys (and tracker state) repeated."""
    curves = pd.concat([item.aligned.rows for item in prepared], ignore_index=True)
    counts = [len(item.aligned.rows) for item in prepared]
    for key in RUN_KEYS:
        curves[key] = np.repeat(np.array([item.keys[key] for item in prepared], dtype=object),
                                counts)
    if any(isinstance(item.run, TrackedRun) for item in prepared):
        states = [item.run.state if isinstance(item.run, TrackedRun) else None
                  for item in prepared]
        curves[STATE_COLUMN] = np.repeat(np.array(states, dtype=object), counts)
    return curves


def _mark_loss_kind(curves: pd.DataFrame) -> pd.DataFrame:
    if LOSS_KIND_COLUMN in curves.columns:
        curves[LOSS_KIND_COLUMN] = curves[LOSS_KIND_COLUMN].fillna("loss")
    return curves


def _report(item: _Prepared, run_id: str) -> IngestedRun:
    return IngestedRun(run_id, item.run.source, item.run.fmt, item.choice.train or "",
                       item.choice.test, item.aligned.epoch_rule, item.aligned.time_source,
                       len(item.aligned.rows), item.aligned.left_out, item.choice.kind)


def _check_run_epochs(run: RunLog, run_id: str, epochs) -> None:
    """InputError naming the log and run unless its aligned epochs are 1..EP without gaps."""
    problem = epoch_problem(epochs)
    if problem is not None:
        raise InputError(f"{run.source}: run {run_id}, column 'epoch': {problem} (epochs must "
                         "run 1, 2, ..., EP without gaps; an epoch needs both a train and a "
                         "test loss).")


def ingest_to_file(sources: Sequence[str | Path], out: str | Path,
                   options: IngestOptions = IngestOptions()) -> tuple[pd.DataFrame,
                                                                       list[IngestedRun]]:
    """Ingest and write the curve table to ``out`` (.csv or .parquet) atomically."""
    check_table_path(out)
    curves, report = ingest_logs(sources, options)
    write_curves(curves, out)
    return curves, report


def headline(report: Sequence[IngestedRun]) -> str:
    """One line: runs read, epochs, runs left out and why."""
    read = [run for run in report if not run.skipped]
    why = Counter(run.skipped for run in report if run.skipped)
    reasons = f" ({', '.join(f'{count} {reason}' for reason, count in why.items())})" \
        if why else ""
    skipped = sum(why.values())
    return (f"{len(read)} run{'s' if len(read) != 1 else ''}, "
            f"{sum(run.epochs for run in read)} epochs, {skipped} run"
            f"{'s' if skipped != 1 else ''} skipped{reasons}")


def summary_lines(report: Sequence[IngestedRun]) -> list[str]:
    """How the runs were read, one line per distinct way, with the number of runs."""
    ways = Counter((run.fmt, _loss_text(run), run.epoch_rule, run.time_source)
                   for run in report if not run.skipped)
    lines = [f"  {count} run{'s' if count > 1 else ''} ({fmt}): {losses}; epochs: {rule}; "
             f"epoch seconds: {time}"
             for (fmt, losses, rule, time), count in ways.items()]
    left_out = sum(run.left_out for run in report)
    if left_out:
        lines.append(f"  {left_out} epochs with only one of the two losses left out")
    return lines


def _loss_text(run: IngestedRun) -> str:
    def side(tag: str) -> str:
        if not tag:
            return "none logged (NaN)"
        return f"1 − {tag!r}" if run.kind == ACCURACY else repr(tag)

    return f"train loss {side(run.train_tag)}, test loss {side(run.test_tag)}"
