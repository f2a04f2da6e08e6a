"""Optuna RDB storages (SQLite) → one RunLog per trial, read with ``sqlite3``, no Optuna.

A trial's intermediate values (``trial.report(value, step)``: table
``trial_intermediate_values``) are its curve, steps in order being epochs 1, 2, …; they
are a validation loss or an accuracy, which ``--value-is`` tells (default ``auto``: a loss
when the study minimises, an accuracy when it maximises). The curve fills ``test_loss``
(an accuracy as 1 − accuracy, the accuracy kept in ``test_accuracy``); ``train_loss`` is
not logged by Optuna and stays NaN. Trial params (categorical choices decoded from their
distribution) give run keys; the trial's state (COMPLETE, PRUNED, FAIL, RUNNING) is kept.
Trials without intermediate values are left out and counted. Optuna stores no time per
step, so epoch seconds are NaN.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from reusebench.core.errors import InputError
from reusebench.data.ingest.runkeys import keys_from_params
from reusebench.data.ingest.runlog import make_series
from reusebench.data.ingest.sqlitestore import open_sqlite, query
from reusebench.data.ingest.tracked import ReadResult, Skipped, TrackedRun

FMT = "optuna"
VALUE_TAG = "value"
SPECIAL_VALUES = {"INF_POS": math.inf, "INF_NEG": -math.inf, "NAN": math.nan}
INT_DISTRIBUTIONS = ("IntDistribution", "IntUniformDistribution", "IntLogUniformDistribution")


def read_optuna_sqlite(path: Path, value_is: str = "auto") -> ReadResult:
    """Every trial of every study in an Optuna SQLite storage."""
    connection = open_sqlite(path)
    try:
        studies = dict(query(connection, path, "select study_id, study_name from studies"))
        directions = _directions(connection, path)
        trials = query(connection, path, "select trial_id, number, study_id, state from trials "
                                         "order by study_id, number")
        params = query(connection, path, "select trial_id, param_name, param_value, "
                                         "distribution_json from trial_params")
        values = _intermediate_values(connection, path)
    finally:
        connection.close()
    trial_params: dict[int, dict[str, object]] = defaultdict(dict)
    for trial_id, name, value, distribution in params:
        trial_params[trial_id][name] = _param_value(value, distribution, path, trial_id)
    result = ReadResult()
    for trial_id, number, study_id, state in trials:
        name = f"{studies.get(study_id, study_id)}/trial_{number}"
        source = Path(f"{path} (trial {number} of study {studies.get(study_id, study_id)})")
        points = values.get(trial_id)
        if not points:
            result.skipped.append(Skipped(name, source, FMT, f"no intermediate values "
                                                             f"({state.lower()})"))
            continue
        steps, numbers = zip(*sorted(points), strict=True)
        kind = value_is if value_is != "auto" else \
            ("accuracy" if directions.get(study_id) == "MAXIMIZE" else "loss")
        result.runs.append(TrackedRun(
            name=name, source=source, fmt=FMT,
            series={VALUE_TAG: make_series(steps, numbers)},
            stated_keys=keys_from_params(trial_params.get(trial_id, {})), state=state,
            value_kind=kind))
    return result


def _columns(connection, path: Path, table: str) -> set[str]:
    return {row[1] for row in query(connection, path, f"pragma table_info({table})")}


def _directions(connection, path: Path) -> dict[int, str]:
    """study_id → MINIMIZE / MAXIMIZE of its first objective (older schemas keep it in
    ``studies``)."""
    if "study_directions" in {row[0] for row in query(
            connection, path, "select name from sqlite_master where type = 'table'")}:
        return dict(query(connection, path, "select study_id, direction from study_directions "
                                            "where objective = 0"))
    if "direction" in _columns(connection, path, "studies"):
        return dict(query(connection, path, "select study_id, direction from studies"))
    return {}


def _intermediate_values(connection, path: Path) -> dict[int, list[tuple[int, float]]]:
    columns = _columns(connection, path, "trial_intermediate_values")
    value = "intermediate_value" if "intermediate_value" in columns else "value"
    kind = "intermediate_value_type" if "intermediate_value_type" in columns else "'FINITE'"
    points: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for trial_id, step, number, value_type in query(
            connection, path, f"select trial_id, step, {value}, {kind} "
                              "from trial_intermediate_values"):
        special = SPECIAL_VALUES.get(value_type)
        points[trial_id].append((int(step), special if special is not None else
                                 (math.nan if number is None else float(number))))
    return points


def _param_value(value: float, distribution: str, path: Path, trial_id: int) -> object:
    """A param as the trial saw it: a categorical choice, an int, or a float."""
    try:
        described = json.loads(distribution)
        name = described["name"]
        if name == "CategoricalDistribution":
            return described["attributes"]["choices"][int(value)]
        return int(value) if name in INT_DISTRIBUTIONS else float(value)
    except (json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError):
        raise InputError(f"{path}: a param of trial id {trial_id} has a distribution that is "
                         "not Optuna's JSON form.") from None
