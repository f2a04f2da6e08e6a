"""Ray Tune trial folders and Sacred FileStorageObserver run folders → RunLog (plain JSON and
CSV; neither library is needed).

- Ray Tune: a trial folder holds ``params.json`` (the trial's config) and ``result.json``
  (one JSON object per ``tune.report``: the reported metrics and Ray's bookkeeping:
  ``training_iteration``, ``time_this_iter_s``, ``timestamp``, ``done``, …) or, failing
  that, ``progress.csv`` (the same rows, nested keys joined with ``/``). The step is
  ``training_iteration``; ``time_this_iter_s`` gives the epoch seconds. A trial with an
  ``error.txt`` is in state ERROR, one whose last row is ``done`` TERMINATED; otherwise the
  folder does not say (Ray keeps the status in its experiment state) and it is left empty.
- Sacred: a run folder holds ``run.json`` (experiment name, status, start time),
  ``config.json`` (the config, with Sacred's ``seed``) and ``metrics.json``
  (``{name: {"steps": [...], "values": [...], "timestamps": [ISO UTC, ...]}}``).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from reusebench.core.errors import InputError
from reusebench.data.ingest.runkeys import keys_from_params
from reusebench.data.ingest.runlog import make_series
from reusebench.data.ingest.tracked import ReadResult, Skipped, TrackedRun, flatten, number

TUNE_FMT, SACRED_FMT = "ray-tune", "sacred"
TUNE_STEP, TUNE_TIME = "training_iteration", "time_this_iter_s"
TUNE_BOOKKEEPING = frozenset({
    "timestamp", "time_total_s", "time_since_restore", "iterations_since_restore", "pid",
    "done", "trial_id", "date", "hostname", "node_ip", "config", "experiment_id",
    "experiment_tag", "checkpoint_dir_name", "should_checkpoint", "timesteps_total",
    "episodes_total", "timesteps_since_restore", "training_iteration", "warmup_time"})


# ---- shared ---------------------------------------------------------------------------------

def _load_json(path: Path, what: str) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path} cannot be read as {what} ({type(error).__name__}).") from error


def _mapping(path: Path, what: str) -> dict:
    loaded = _load_json(path, what) if path.is_file() else {}
    if not isinstance(loaded, dict):
        raise InputError(f"{path} is not {what} (no JSON object).")
    return loaded


# ---- Ray Tune -------------------------------------------------------------------------------

def find_tune_trials(folder: Path) -> list[Path]:
    return sorted(params.parent for params in folder.rglob("params.json")
                  if (params.parent / "result.json").is_file()
                  or (params.parent / "progress.csv").is_file())


def read_tune_trials(trial_dirs: list[Path]) -> ReadResult:
    result = ReadResult()
    for trial_dir in trial_dirs:
        rows = _tune_rows(trial_dir)
        series = _tune_series(rows)
        if not series:
            result.skipped.append(Skipped(trial_dir.name, trial_dir, TUNE_FMT, "no results"))
            continue
        params = _mapping(trial_dir / "params.json", "a Ray Tune params.json")
        state = "ERROR" if (trial_dir / "error.txt").is_file() else \
            "TERMINATED" if rows and rows[-1].get("done") is True else ""
        result.runs.append(TrackedRun(
            name=trial_dir.name, source=trial_dir, fmt=TUNE_FMT, series=series,
            stated_keys=keys_from_params(flatten(params)), state=state,
            time_tag=TUNE_TIME if TUNE_TIME in series else None, time_unit=1.0))
    return result


def _tune_rows(trial_dir: Path) -> list[dict]:
    """The reported results, from result.json (exact JSON) or else progress.csv."""
    path = trial_dir / "result.json"
    if path.is_file() and path.stat().st_size:
        rows = []
        for number_, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise InputError(f"{path}, line {number_}: not a JSON result "
                                 "(one object per line).") from None
            rows.append(flatten(row, "/") if isinstance(row, dict) else {})
        return rows
    csv = trial_dir / "progress.csv"
    try:
        table = pd.read_csv(csv)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as error:
        raise InputError(f"{csv} cannot be read as a Ray Tune progress.csv "
                         f"({type(error).__name__}).") from error
    return table.to_dict("records")


def _tune_series(rows: list[dict]) -> dict:
    points: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    for index, row in enumerate(rows):
        step = number(row.get(TUNE_STEP))
        step = int(step) if step is not None and math.isfinite(step) else index + 1
        wall = number(row.get("timestamp"))
        for key, value in row.items():
            logged = number(value)
            if key in TUNE_BOOKKEEPING or key.startswith("config/") or logged is None:
                continue
            points[key].append((step, logged, math.nan if wall is None else wall))
    return {key: make_series(*zip(*values, strict=True)) for key, values in points.items()}


# ---- Sacred ---------------------------------------------------------------------------------

def find_sacred_runs(folder: Path) -> list[Path]:
    return sorted(run.parent for run in folder.rglob("run.json")
                  if (run.parent / "metrics.json").is_file()
                  or (run.parent / "config.json").is_file())


def read_sacred_runs(run_dirs: list[Path]) -> ReadResult:
    result = ReadResult()
    for run_dir in run_dirs:
        info = _mapping(run_dir / "run.json", "a Sacred run.json")
        experiment = info.get("experiment", {})
        name = f"{experiment.get('name', 'sacred')}/{run_dir.name}" \
            if isinstance(experiment, dict) else run_dir.name
        metrics = _mapping(run_dir / "metrics.json", "a Sacred metrics.json")
        if not metrics:
            result.skipped.append(Skipped(name, run_dir, SACRED_FMT, "no metrics"))
            continue
        config = _mapping(run_dir / "config.json", "a Sacred config.json")
        result.runs.append(TrackedRun(
            name=name, source=run_dir, fmt=SACRED_FMT,
            series=_sacred_series(metrics, run_dir / "metrics.json"),
            start_wall=_iso_seconds(info.get("start_time")),
            stated_keys=keys_from_params(flatten(config)), state=str(info.get("status", ""))))
    return result


def _sacred_series(metrics: dict, path: Path) -> dict:
    series = {}
    for name, logged in metrics.items():
        try:
            steps, values = logged["steps"], [float(value) for value in logged["values"]]
            walls = [_iso_seconds(stamp) for stamp in logged.get("timestamps", [])]
            if len(steps) != len(values) or (walls and len(walls) != len(values)):
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{path}: metric {name!r} is not Sacred's form (steps, values "
                             "and timestamps of equal length).") from None
        if values:
            series[name] = make_series(steps, values, walls or None)
    return series


def _iso_seconds(stamp: object) -> float:
    """Seconds since 1970 of a Sacred ISO timestamp (UTC without a zone); NaN if none."""
    if not isinstance(stamp, str):
        return math.nan
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return math.nan
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
