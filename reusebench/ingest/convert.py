"""Outside training logs → one validated curve table (``reusebench ingest``).

SOURCE may be a file or a folder. A folder holding TensorBoard event files is read as
TensorBoard runs (one per folder of event files); otherwise every ``*.csv`` below it must be
a CSV log. ``--format`` names the format instead of detecting it (auto: an event file has
``tfevents`` in its name; a CSV's layout is told by its header).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from reusebench.curves import RUN_KEYS, epoch_problem, validate_curves, write_curves
from reusebench.errors import InputError
from reusebench.ingest.align import TIME_UNITS, align_run
from reusebench.ingest.csvlogs import CSV_FORMATS, read_csv_logs
from reusebench.ingest.events import find_event_files, is_event_file, read_event_runs
from reusebench.ingest.runkeys import KeyOptions, check_distinct, run_keys
from reusebench.ingest.runlog import RunLog
from reusebench.ingest.tags import choose_tags
from reusebench.io import check_table_path

FORMATS = ("auto", "tensorboard", *CSV_FORMATS)


@dataclass(frozen=True)
class IngestOptions:
    """What ``reusebench ingest`` was told besides its sources and output."""

    fmt: str = "auto"
    train_tag: str | None = None
    test_tag: str | None = None
    epoch_tag: str | None = None
    time_unit: str = "auto"
    keys: KeyOptions = field(default_factory=KeyOptions)


@dataclass(frozen=True)
class IngestedRun:
    """How one run was read: for the summary a user sees."""

    run_id: str
    source: Path
    fmt: str
    train_tag: str
    test_tag: str
    epoch_rule: str
    time_source: str
    epochs: int
    left_out: int


def read_logs(sources: Sequence[str | Path], fmt: str = "auto") -> list[RunLog]:
    """Every run in the given files and folders."""
    if fmt not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}.")
    if not sources:
        raise InputError("No log files or folders were given.")
    runs: list[RunLog] = []
    for source in map(Path, sources):
        runs.extend(_read_source(source, fmt))
    return runs


def _read_source(source: Path, fmt: str) -> list[RunLog]:
    if not source.exists():
        raise InputError(f"{source}: no such file or folder.")
    if source.is_file():
        if fmt == "tensorboard" or (fmt == "auto" and is_event_file(source)):
            return read_event_runs([source])
        if fmt in CSV_FORMATS or source.suffix.lower() == ".csv":
            return read_csv_logs(source, fmt)
        raise InputError(f"{source} is neither a TensorBoard event file (no 'tfevents' in "
                         "its name) nor a .csv log; name its format with --format.")
    events = find_event_files(source) if fmt in ("auto", "tensorboard") else []
    if events:
        return read_event_runs(events)
    csvs = sorted(path for path in source.rglob("*.csv") if path.is_file()) \
        if fmt != "tensorboard" else []
    if not csvs:
        wanted = "TensorBoard event files" if fmt == "tensorboard" else \
            "CSV training logs" if fmt in CSV_FORMATS else "TensorBoard event files or CSV logs"
        raise InputError(f"{source}: the folder holds no {wanted}.")
    return [run for path in csvs for run in read_csv_logs(path, fmt)]


def ingest_logs(sources: Sequence[str | Path],
                options: IngestOptions = IngestOptions()) -> tuple[pd.DataFrame,
                                                                    list[IngestedRun]]:
    """The validated curve table of every run in ``sources``, and how each was read."""
    if options.time_unit != "auto" and options.time_unit not in TIME_UNITS:
        raise InputError(f"--time-unit must be auto or one of {', '.join(TIME_UNITS)}, not "
                         f"{options.time_unit!r}.")
    runs = read_logs(sources, options.fmt)
    aligned, keys = [], []
    for run in runs:
        choice = choose_tags(run, options.train_tag, options.test_tag, options.epoch_tag)
        aligned.append((choice, align_run(run, choice, options.time_unit)))
        keys.append(run_keys(run.name, run.stated_keys, options.keys))
    run_ids = check_distinct(keys, [run.source for run in runs])
    for run, run_id, (_, done) in zip(runs, run_ids, aligned, strict=True):
        _check_run_epochs(run, run_id, done.rows["epoch"].to_numpy())
    tables, report = [], []
    for run, run_id, run_key, (choice, done) in zip(runs, run_ids, keys, aligned, strict=True):
        tables.append(done.rows.assign(**{key: run_key[key] for key in RUN_KEYS}))
        report.append(IngestedRun(run_id, run.source, run.fmt, choice.train, choice.test,
                                  done.epoch_rule, done.time_source, len(done.rows),
                                  done.left_out))
    source = ", ".join(map(str, sources))
    return validate_curves(pd.concat(tables, ignore_index=True), source=source), report


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


def summary_lines(report: Sequence[IngestedRun]) -> list[str]:
    """How the runs were read, one line per distinct way, with the number of runs."""
    ways = Counter((run.fmt, run.train_tag, run.test_tag, run.epoch_rule, run.time_source)
                   for run in report)
    lines = [f"  {count} run{'s' if count > 1 else ''} ({fmt}): train loss {train!r}, test "
             f"loss {test!r}; epochs: {rule}; epoch seconds: {time}"
             for (fmt, train, test, rule, time), count in ways.items()]
    left_out = sum(run.left_out for run in report)
    if left_out:
        lines.append(f"  {left_out} epochs with only one of the two losses left out")
    return lines
