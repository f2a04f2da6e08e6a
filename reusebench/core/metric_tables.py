"""The metric stage as one call: curve files in, per-run / pairs / unpaired tables out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from reusebench.core.curves import curve_matrix, read_many, run_keys
from reusebench.core.errors import InputError
from reusebench.core.io import atomic_write_all, check_output
from reusebench.core.metricdefs import PAPER, check_definitions, check_delta, check_fit_points
from reusebench.core.metrics import (
    DEFAULT_DELTA,
    DEFAULT_DIVERGE_FACTOR,
    DEFAULT_FIT_POINTS,
    DEFAULT_LEARN_MARGIN,
    matrix_columns,
    metrics_of_matrix,
)
from reusebench.core.pairs import pair_metrics

TABLE_NAMES = ("metrics", "pairs", "unpaired")


def metric_tables(curves: pd.DataFrame, delta: int = DEFAULT_DELTA,
                  fit_points: Sequence[int] = DEFAULT_FIT_POINTS,
                  diverge_factor: float = DEFAULT_DIVERGE_FACTOR,
                  learn_margin: float = DEFAULT_LEARN_MARGIN,
                  definitions: str = PAPER) -> dict[str, pd.DataFrame]:
    """Per-run metrics, the pairs table and the unpaired runs of a validated curve table,
    computed with the paper's or the Study A authors' ``definitions``."""
    matrix = curve_matrix(curves, matrix_columns(curves))
    run_metrics = pd.concat([run_keys(curves), metrics_of_matrix(
        matrix, delta, fit_points, diverge_factor, learn_margin, definitions)], axis=1)
    pairs, unpaired = pair_metrics(curves, run_metrics, matrix)
    return {"metrics": run_metrics, "pairs": pairs, "unpaired": unpaired}


def check_flag_settings(diverge_factor: float, learn_margin: float) -> None:
    """InputError unless diverge_factor > 1 and 0 <= learn_margin < 1 (both finite)."""
    if not math.isfinite(diverge_factor) or diverge_factor <= 1:
        raise InputError("The diverge factor (--diverge-factor, metrics.diverge_factor) must "
                         f"be a finite number above 1, not {diverge_factor!r}.")
    if not math.isfinite(learn_margin) or not 0 <= learn_margin < 1:
        raise InputError("The learn margin (--learn-margin, metrics.learn_margin) must lie in "
                         f"[0, 1), not {learn_margin!r}.")


def table_paths(out_dir: str | Path) -> dict[str, list[Path]]:
    """Where each table is written: ``OUT/NAME.csv`` and ``OUT/NAME.parquet``."""
    out_dir = Path(out_dir)
    return {name: [out_dir / f"{name}.csv", out_dir / f"{name}.parquet"] for name in TABLE_NAMES}


def write_metric_tables(tables: dict[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Write every table as CSV and Parquet; all files appear or none does."""
    writes = {}
    for name, paths in table_paths(out_dir).items():
        table = tables[name]
        for path in paths:
            if path.suffix == ".csv":
                writes[path] = lambda tmp, table=table: table.to_csv(tmp, index=False)
            else:
                writes[path] = lambda tmp, table=table: table.to_parquet(tmp, index=False)
    atomic_write_all(writes)
    return list(writes)


def compute_metric_files(curve_paths: Sequence[str | Path], out_dir: str | Path,
                         delta: int = DEFAULT_DELTA,
                         fit_points: Sequence[int] = DEFAULT_FIT_POINTS,
                         diverge_factor: float = DEFAULT_DIVERGE_FACTOR,
                         learn_margin: float = DEFAULT_LEARN_MARGIN,
                         definitions: str = PAPER) -> dict[str, pd.DataFrame]:
    """Read curve files, compute every metric, write the tables; returns the tables."""
    check_flag_settings(diverge_factor, learn_margin)
    delta, fit_points = check_delta(delta), check_fit_points(fit_points)
    definitions = check_definitions(definitions)
    check_output(out_dir, folder=True)
    tables = metric_tables(read_many(curve_paths), delta, fit_points, diverge_factor,
                           learn_margin, definitions)
    write_metric_tables(tables, out_dir)
    return tables
