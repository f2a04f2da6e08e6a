"""Which reader reads which source: files and folders → runs (and runs left out).

A file is read by its kind: ``.wandb`` (W&B), an SQLite database (MLflow or Optuna, told by
its tables), a Ray Tune trial's or a Sacred run's JSON (its folder is read), a TensorBoard
event file, a CSV log. A folder is searched for, in this order, W&B run files, MLflow
runs (file store), MLflow/Optuna SQLite files (``.db``, ``.sqlite``, ``.sqlite3``), Ray
Tune trial folders and Sacred run folders; the folders those claim are not searched again,
and TensorBoard event files and CSV logs elsewhere in it are read as before (event files
first: a folder of runs with event files is read as TensorBoard). ``--format`` limits the
search to one format.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from reusebench.core.errors import InputError
from reusebench.data.ingest.csvlogs import CSV_FORMATS, read_csv_logs
from reusebench.data.ingest.events import find_event_files, is_event_file, read_event_runs
from reusebench.data.ingest.mlflow_store import (
    find_mlflow_runs,
    looks_like_empty_store,
    read_mlflow_files,
    read_mlflow_sqlite,
)
from reusebench.data.ingest.optuna_store import read_optuna_sqlite
from reusebench.data.ingest.sqlitestore import SQLITE_SUFFIXES, is_sqlite, store_kind
from reusebench.data.ingest.tracked import TRACKER_FORMATS, VALUE_KINDS, ReadResult
from reusebench.data.ingest.tune_sacred import (
    find_sacred_runs,
    find_tune_trials,
    read_sacred_runs,
    read_tune_trials,
)
from reusebench.data.ingest.wandb_log import SUFFIX, find_wandb_files, read_wandb_runs

FORMATS = ("auto", "tensorboard", *CSV_FORMATS, *TRACKER_FORMATS)
TUNE_FILES = ("params.json", "result.json", "progress.csv")
SACRED_FILES = ("run.json", "metrics.json", "config.json")


@dataclass(frozen=True)
class ReadOptions:
    fmt: str = "auto"
    keep_partial: bool = False  # W&B: keep the records before a cut or corrupt one
    value_is: str = "auto"  # Optuna: intermediate values are a loss or an accuracy


def read_sources(sources: Sequence[str | Path], options: ReadOptions = ReadOptions()
                 ) -> ReadResult:
    """Every run in the given files and folders, and the runs the readers left out."""
    if options.fmt not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, not {options.fmt!r}.")
    if options.value_is not in ("auto", *VALUE_KINDS):
        raise InputError(f"--value-is must be auto, loss or accuracy, not {options.value_is!r}.")
    if not sources:
        raise InputError("No log files or folders were given.")
    result = ReadResult()
    for source in map(Path, sources):
        if not source.exists():
            raise InputError(f"{source}: no such file or folder.")
        result.extend(_read_file(source, options) if source.is_file()
                      else _read_folder(source, options))
    return result


# ---- files ----------------------------------------------------------------------------------

def _read_file(path: Path, options: ReadOptions) -> ReadResult:
    fmt = options.fmt
    if fmt == "wandb" or (fmt == "auto" and path.suffix == SUFFIX):
        return read_wandb_runs([path], options.keep_partial)
    if fmt in ("mlflow", "optuna") or (fmt == "auto" and (
            is_sqlite(path) or path.suffix.lower() in SQLITE_SUFFIXES)):
        return _read_store(path, options)
    if fmt in ("auto", "ray-tune") and path.name in TUNE_FILES and \
            (path.parent / "params.json").is_file():
        return read_tune_trials([path.parent])
    if fmt in ("auto", "sacred") and path.name in SACRED_FILES and \
            (path.parent / "run.json").is_file():
        return read_sacred_runs([path.parent])
    if fmt in TRACKER_FORMATS:
        raise InputError(f"{path} is not a {_FORMAT_NAMES[fmt]} file; give the "
                         f"{_FORMAT_NAMES[fmt]} {_WHERE[fmt]}.")
    if fmt == "tensorboard" or (fmt == "auto" and is_event_file(path)):
        return ReadResult(read_event_runs([path]))
    if fmt in CSV_FORMATS or path.suffix.lower() == ".csv":
        return ReadResult(read_csv_logs(path, fmt))
    raise InputError(f"{path} is neither a TensorBoard event file (no 'tfevents' in its name), "
                     "a .csv log, a .wandb run file nor an MLflow/Optuna SQLite database; "
                     "name its format with --format.")


_FORMAT_NAMES = {"mlflow": "MLflow", "wandb": "W&B", "optuna": "Optuna",
                 "ray-tune": "Ray Tune", "sacred": "Sacred"}
_WHERE = {"mlflow": "mlflow.db file or mlruns folder", "wandb": "run-*.wandb file or wandb "
          "folder", "optuna": "SQLite storage file", "ray-tune": "trial or experiment folder",
          "sacred": "run or observer folder"}


def _read_store(path: Path, options: ReadOptions) -> ReadResult:
    kind = store_kind(path)
    if options.fmt in ("mlflow", "optuna") and kind != options.fmt:
        what = "an Optuna storage" if kind == "optuna" else "an MLflow tracking store"
        raise InputError(f"{path} is {what}, not {_FORMAT_NAMES[options.fmt]}'s; use --format "
                         f"{kind} or auto.")
    return read_mlflow_sqlite(path) if kind == "mlflow" else \
        read_optuna_sqlite(path, options.value_is)


# ---- folders --------------------------------------------------------------------------------

def _sqlite_stores(folder: Path) -> list[Path]:
    """SQLite files below ``folder`` that are MLflow or Optuna stores (others are not logs)."""
    stores = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in SQLITE_SUFFIXES and path.is_file() and is_sqlite(path):
            try:
                store_kind(path)
            except InputError:
                continue
            stores.append(path)
    return stores


def _finders(options: ReadOptions) -> list[tuple[str, Callable, Callable]]:
    """(format, find units in a folder, read units), in search order."""
    return [
        ("wandb", find_wandb_files, lambda units: read_wandb_runs(units, options.keep_partial)),
        ("mlflow", find_mlflow_runs, read_mlflow_files),
        ("sqlite", _sqlite_stores, lambda units: _read_all(
            [_read_store(unit, options) for unit in units])),
        ("ray-tune", find_tune_trials, read_tune_trials),
        ("sacred", find_sacred_runs, read_sacred_runs),
    ]


def _read_all(results: list[ReadResult]) -> ReadResult:
    combined = ReadResult()
    for result in results:
        combined.extend(result)
    return combined


def _wanted(finder_fmt: str, fmt: str) -> bool:
    if fmt == "auto":
        return True
    return finder_fmt == fmt or (finder_fmt == "sqlite" and fmt in ("mlflow", "optuna"))


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _read_folder(folder: Path, options: ReadOptions) -> ReadResult:
    result, claimed = ReadResult(), []
    for finder_fmt, find, read in _finders(options):
        if not _wanted(finder_fmt, options.fmt):
            continue
        units = [unit for unit in find(folder) if not _inside(unit, claimed)]
        if units:
            result.extend(read(units))
            claimed.extend(unit.parent if unit.is_file() and finder_fmt == "wandb" else unit
                           for unit in units)
    if options.fmt in ("auto", "tensorboard", *CSV_FORMATS):
        result.extend(_read_plain_logs(folder, options.fmt, claimed))
    if not result.runs and not result.skipped:
        raise InputError(_nothing_found(folder, options.fmt))
    return result


def _read_plain_logs(folder: Path, fmt: str, claimed: list[Path]) -> ReadResult:
    """TensorBoard runs, else CSV logs, outside the folders trackers claimed."""
    if fmt in ("auto", "tensorboard"):
        events = [path for path in find_event_files(folder) if not _inside(path, claimed)]
        if events:
            return ReadResult(read_event_runs(events))
    if fmt == "tensorboard":
        return ReadResult()
    csvs = sorted(path for path in folder.rglob("*.csv")
                  if path.is_file() and not _inside(path, claimed))
    return ReadResult([run for path in csvs for run in read_csv_logs(path, fmt)])


def _nothing_found(folder: Path, fmt: str) -> str:
    if fmt in ("auto", "mlflow") and looks_like_empty_store(folder):
        return (f"{folder}: an MLflow file store without runs (no <experiment>/<run>/meta.yaml "
                "beside a metrics folder).")
    if fmt in TRACKER_FORMATS:
        return f"{folder}: the folder holds no {_FORMAT_NAMES[fmt]} runs."
    wanted = "TensorBoard event files" if fmt == "tensorboard" else \
        "CSV training logs" if fmt in CSV_FORMATS else \
        ("TensorBoard event files or CSV logs (nor MLflow, W&B, Optuna, Ray Tune or Sacred "
         "runs)")
    return f"{folder}: the folder holds no {wanted}."
