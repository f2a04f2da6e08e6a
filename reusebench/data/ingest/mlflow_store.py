"""MLflow runs → RunLog, read from the files MLflow writes, without MLflow.

- SQLite tracking store (``mlflow.db``; MLflow 3's default backend): tables ``runs``
  (run_uuid, name, status, start_time, lifecycle_stage), ``metrics`` (run_uuid, key, value,
  timestamp in ms, step, is_nan), ``params`` (run_uuid, key, value), read with ``sqlite3``
  in read-only mode. MLflow stores NaN as 0 with ``is_nan`` set and ±inf as ±max float;
  both are read back as they were logged.
- File store (``mlruns/<experiment>/<run>/``): ``meta.yaml`` (run_name, status,
  lifecycle_stage, start_time), ``metrics/<key>`` (one line ``timestamp value step`` per
  logged value; a key with ``/`` is a sub-folder), ``params/<key>`` (the value as text).

One run per MLflow run; its name is the run name (``#`` + the run id added where several
runs share one); params give run keys (``runkeys.keys_from_params``); metric keys are
matched to losses by name (``tags``). Deleted runs and runs without metrics are left out
and counted.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from reusebench.core.errors import InputError
from reusebench.data.ingest.runkeys import keys_from_params
from reusebench.data.ingest.runlog import Series, make_series
from reusebench.data.ingest.sqlitestore import open_sqlite, query
from reusebench.data.ingest.tracked import (
    ReadResult,
    Skipped,
    TrackedRun,
    seconds_since_epoch,
    unique_names,
)

FMT = "mlflow"
MAX_FLOAT = 1.7976931348623157e308  # how MLflow's SQL store writes ±inf
# RunStatus numbers of a file store's meta.yaml
FILE_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
RUN_NAME_TAG = "mlflow.runName"


# ---- SQLite store ---------------------------------------------------------------------------

def read_mlflow_sqlite(path: Path) -> ReadResult:
    """Every run of an MLflow SQLite tracking store."""
    connection = open_sqlite(path)
    try:
        runs = query(connection, path, "select run_uuid, name, status, start_time, "
                     "lifecycle_stage from runs order by start_time, run_uuid")
        names = dict(query(connection, path, "select run_uuid, value from tags where key = ?",
                           (RUN_NAME_TAG,)))
        params = _grouped(query(connection, path, "select run_uuid, key, value from params"))
        metrics = query(connection, path, "select run_uuid, key, value, timestamp, step, "
                        "is_nan from metrics")
    finally:
        connection.close()
    series = _sqlite_series(metrics)
    run_names = unique_names([name or names.get(run_id) or run_id
                              for run_id, name, *_ in runs], [row[0] for row in runs])
    result = ReadResult()
    for (run_id, _, status, start, stage), name in zip(runs, run_names, strict=True):
        source = Path(f"{path} (run {name})")
        if stage == "deleted":
            result.skipped.append(Skipped(name, source, FMT, "deleted"))
        elif run_id not in series:
            result.skipped.append(Skipped(name, source, FMT, "no metrics"))
        else:
            result.runs.append(TrackedRun(
                name=name, source=source, fmt=FMT, series=series[run_id],
                start_wall=seconds_since_epoch(start),
                stated_keys=keys_from_params(params.get(run_id, {})), state=status or ""))
    return result


def _grouped(rows: list[tuple]) -> dict[str, dict[str, str]]:
    grouped: dict[str, dict[str, str]] = defaultdict(dict)
    for run_id, key, value in rows:
        grouped[run_id][key] = value
    return grouped


def _sqlite_series(rows: list[tuple]) -> dict[str, dict[str, Series]]:
    """run_uuid → key → series; where a step repeats, the value logged last wins."""
    if not rows:
        return {}
    table = pd.DataFrame.from_records(rows, columns=["run", "key", "value", "timestamp",
                                                     "step", "is_nan"])
    run_codes, run_ids = pd.factorize(table["run"])
    key_codes, keys = pd.factorize(table["key"])
    timestamps = table["timestamp"].to_numpy(dtype="int64")
    order = np.lexsort((timestamps, key_codes, run_codes))
    values = table["value"].to_numpy(dtype="float64")
    values = np.where(table["is_nan"].to_numpy(dtype=bool), np.nan, values)
    values = np.where(np.abs(values) == MAX_FLOAT, np.sign(values) * np.inf, values)
    values, steps = values[order], table["step"].to_numpy(dtype="int64")[order]
    walls, run_codes, key_codes = timestamps[order] / 1000.0, run_codes[order], key_codes[order]
    starts = np.flatnonzero(np.r_[True, (np.diff(run_codes) != 0) | (np.diff(key_codes) != 0)])
    ends = np.r_[starts[1:], len(order)]
    series: dict[str, dict[str, Series]] = defaultdict(dict)
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        run_id, key = run_ids[run_codes[start]], keys[key_codes[start]]
        series[run_id][key] = make_series(steps[start:end], values[start:end],
                                          walls[start:end])
    return series


# ---- file store -----------------------------------------------------------------------------

def find_mlflow_runs(folder: Path) -> list[Path]:
    """The run folders (``meta.yaml`` beside a ``metrics`` folder) below ``folder``."""
    return sorted(meta.parent for meta in folder.rglob("meta.yaml")
                  if (meta.parent / "metrics").is_dir())


def looks_like_empty_store(folder: Path) -> bool:
    """An ``mlruns`` folder, or one holding only experiment ``meta.yaml`` files."""
    return folder.name == "mlruns" or any(
        (child / "meta.yaml").is_file() for child in folder.iterdir() if child.is_dir())


def read_mlflow_files(run_dirs: list[Path]) -> ReadResult:
    """The runs of an MLflow file store, one per run folder."""
    metas = [_read_meta(run_dir) for run_dir in run_dirs]
    names = unique_names([_run_name(run_dir, meta) for run_dir, meta in
                          zip(run_dirs, metas, strict=True)],
                         [str(meta.get("run_id") or meta.get("run_uuid") or run_dir.name)
                          for run_dir, meta in zip(run_dirs, metas, strict=True)])
    result = ReadResult()
    for run_dir, meta, name in zip(run_dirs, metas, names, strict=True):
        series = _file_series(run_dir)
        if meta.get("lifecycle_stage") == "deleted" or ".trash" in run_dir.parts:
            result.skipped.append(Skipped(name, run_dir, FMT, "deleted"))
        elif not series:
            result.skipped.append(Skipped(name, run_dir, FMT, "no metrics"))
        else:
            result.runs.append(TrackedRun(
                name=name, source=run_dir, fmt=FMT, series=series,
                start_wall=seconds_since_epoch(meta.get("start_time")),
                stated_keys=keys_from_params(_text_files(run_dir / "params")),
                state=FILE_STATUS.get(meta.get("status"), str(meta.get("status") or ""))))
    return result


def _read_meta(run_dir: Path) -> dict:
    path = run_dir / "meta.yaml"
    try:
        meta = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise InputError(f"{path} cannot be read as an MLflow run's meta.yaml "
                         f"({type(error).__name__}).") from error
    if not isinstance(meta, dict):
        raise InputError(f"{path} is not an MLflow run's meta.yaml (no mapping).")
    return meta


def _run_name(run_dir: Path, meta: dict) -> str:
    tag = run_dir / "tags" / RUN_NAME_TAG
    if meta.get("run_name"):
        return str(meta["run_name"])
    if tag.is_file():
        return tag.read_text().strip() or run_dir.name
    return run_dir.name


def _text_files(folder: Path) -> dict[str, str]:
    """key (path below ``folder``) → file text, for params and tags."""
    if not folder.is_dir():
        return {}
    return {path.relative_to(folder).as_posix(): path.read_text().strip()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def _file_series(run_dir: Path) -> dict:
    folder = run_dir / "metrics"
    series = {path.relative_to(folder).as_posix(): _metric_file(path)
              for path in sorted(folder.rglob("*")) if path.is_file()}
    return {key: values for key, values in series.items() if len(values)}


def _metric_file(path: Path) -> Series:
    """``timestamp value [step [dataset digest]]`` lines (no step: step 0, as MLflow reads)."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path} cannot be read as an MLflow metric file "
                         f"({type(error).__name__}).") from error
    steps, values, walls = [], [], []
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            if len(parts) not in (2, 3, 5):
                raise ValueError
            walls.append(int(parts[0]) / 1000.0)
            values.append(float(parts[1]))
            steps.append(int(parts[2]) if len(parts) > 2 else 0)
        except ValueError:
            raise InputError(f"{path}, line {number}: not an MLflow metric line "
                             "('timestamp value step').") from None
    return make_series(steps, values, walls)
