"""CSV training logs → RunLog: Keras ``CSVLogger``, PyTorch Lightning ``metrics.csv`` and
the per-epoch CSV of the Study A authors' training code.

- Keras ``CSVLogger``: one row per epoch; ``epoch`` (from 0), ``loss``, ``val_loss`` and a
  column per metric (``accuracy``, ``val_accuracy``, ...).
- Lightning ``CSVLogger`` (``<save_dir>/<name>/version_<n>/metrics.csv``): one row per
  logging call with ``epoch`` (from 0) and ``step``; training and validation values sit on
  different rows, the other cells blank. An ``hparams.yaml`` beside it may state the lr.
- Study A authors (usnistgov/ai-model-reuse, ``pytorch_models/INFER_train.py``):
  ``Model,Pretrained,LR,Batch_Size,epoch,Seconds,Train_loss,Test_loss,...`` one row per
  epoch from 1; ``Seconds`` is whole seconds since training began (training plus testing),
  so an epoch's seconds are the difference to the row before. Their model names map to
  ours (their ``Resnet50`` is torchvision's ``fcn_resnet50``); ``Pretrained`` True means
  torchvision's COCO-trained weights.

A blank cell is "not logged"; a cell reading ``nan`` or ``inf`` is a logged non-finite
value (a diverged run). Rows whose epoch is text (a header repeated by an appended log)
are skipped.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from reusebench.core.errors import InputError
from reusebench.data.ingest.runlog import RunLog, Series, make_series

CSV_FORMATS = ("keras-csv", "lightning-csv", "authors-csv")
AUTHORS_KEYS = ("model", "pretrained", "lr", "batch_size")
AUTHORS_COLUMNS = (*AUTHORS_KEYS, "epoch", "seconds", "train_loss", "test_loss")
AUTHORS_ARCHS = {"deeplab50": "deeplab50", "deeplab101": "deeplab101",
                 "mobilenetv3-large": "mobilenetv3", "lr-aspp-mobilenetv3-large": "lraspp",
                 "resnet50": "fcn50", "resnet101": "fcn101"}
AUTHORS_INITS = {"true": "coco", "false": "random"}
HPARAM_LR_KEYS = ("lr", "learning_rate")
_NON_FINITE = {"nan", "inf", "-inf", "+inf", "infinity", "-infinity"}


def read_csv_logs(path: Path, fmt: str = "auto") -> list[RunLog]:
    """The runs one CSV log holds (one, except an authors' file with several runs)."""
    table = _read_text_table(path)
    columns = {column.strip().lower(): column for column in table.columns}
    if fmt == "auto":
        fmt = detect_format(path, columns)
    epoch = columns.get("epoch")
    if epoch is None:
        raise InputError(f"{path}: no 'epoch' column among the columns found "
                         f"({', '.join(map(repr, table.columns))}).")
    table = table[_epoch_is_number_or_blank(table[epoch])].reset_index(drop=True)
    if fmt == "authors-csv":
        return _authors_runs(path, table, columns)
    skip = {columns["step"]} if fmt == "lightning-csv" and "step" in columns else set()
    stated = _hparams_lr(path) if fmt == "lightning-csv" else {}
    name = path.parent.resolve().name if fmt == "lightning-csv" else path.stem
    return [RunLog(name=name, source=path, fmt=fmt, series=_numeric_series(table, skip),
                   stated_keys=stated, epoch_tag=epoch)]


def detect_format(path: Path, columns: dict[str, str]) -> str:
    """Which CSV log layout a header is (lower-case column names → original names)."""
    if set(AUTHORS_COLUMNS) <= set(columns):
        return "authors-csv"
    if {"epoch", "step"} <= set(columns):
        return "lightning-csv"
    if {"epoch", "loss"} <= set(columns):
        return "keras-csv"
    raise InputError(f"{path}: no recognisable loss columns (not a Keras CSVLogger, Lightning "
                     "metrics.csv or Study A authors' log; columns found: "
                     f"{', '.join(map(repr, columns.values())) or 'none'}).")


def _read_text_table(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError as error:
        raise InputError(f"{path} is empty: it holds no CSV header.") from error
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{path} cannot be read as CSV ({first_line}).") from error
    if table.empty:
        raise InputError(f"{path} holds a header but no rows.")
    return table


def _numbers(cells: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(present, values): present = a non-blank cell; values NaN where not a number."""
    text = cells.str.strip()
    return (text != "").to_numpy(), pd.to_numeric(text, errors="coerce").to_numpy("float64")


def _is_number_or_nonfinite(cells: pd.Series) -> np.ndarray:
    present, values = _numbers(cells)
    return ~present | ~np.isnan(values) | cells.str.strip().str.lower().isin(_NON_FINITE)


def _epoch_is_number_or_blank(cells: pd.Series) -> np.ndarray:
    present, values = _numbers(cells)
    return ~present | np.isfinite(values)


def _numeric_series(table: pd.DataFrame, skip: set[str]) -> dict[str, Series]:
    """A series per column whose non-blank cells are all numbers; steps are row numbers."""
    series = {}
    rows = np.arange(len(table))
    for column in table.columns:
        if column in skip or not _is_number_or_nonfinite(table[column]).all():
            continue
        present, values = _numbers(table[column])
        if present.any():
            series[column] = make_series(rows[present], values[present])
    return series


def _hparams_lr(path: Path) -> dict[str, object]:
    hparams = path.parent / "hparams.yaml"
    if not hparams.is_file():
        return {}
    with contextlib.suppress(OSError, yaml.YAMLError):
        loaded = yaml.safe_load(hparams.read_text())
        if isinstance(loaded, dict):
            for key in HPARAM_LR_KEYS:
                value = loaded.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                    return {"lr": float(value)}
    return {}


def _authors_runs(path: Path, table: pd.DataFrame, columns: dict[str, str]) -> list[RunLog]:
    key_columns = [columns[key] for key in AUTHORS_KEYS]
    groups = list(table.groupby(key_columns, sort=False))
    runs = []
    for index, (values, rows) in enumerate(groups):
        model, pretrained, lr, _ = (value.strip() for value in values)
        rows = rows.reset_index(drop=True)
        series = _numeric_series(rows, skip={columns["seconds"]})
        _, cumulative = _numbers(rows[columns["seconds"]])
        seconds = np.diff(cumulative, prepend=0.0)
        series["Seconds"] = make_series(np.arange(len(rows)), seconds)
        stated: dict[str, object] = {
            "arch": AUTHORS_ARCHS.get(model.lower(), model.lower()),
            "init": AUTHORS_INITS.get(pretrained.lower(), pretrained.lower())}
        with contextlib.suppress(ValueError):
            stated["lr"] = float(lr)
        name = path.stem if len(groups) == 1 else f"{path.stem}#{index + 1}"
        runs.append(RunLog(name=name, source=path, fmt="authors-csv", series=series,
                           stated_keys=stated, epoch_tag=columns["epoch"], time_tag="Seconds",
                           time_unit=1.0))
    return runs
