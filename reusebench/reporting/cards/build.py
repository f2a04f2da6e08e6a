"""Card files from the pipeline's results tree: one run folder, or every run of a study.

A run folder (``results/runs/{study}/…``) holds ``curves.csv`` and ``provenance.json``
(Study A, also ``checkpoint.pt``) or ``summary.json`` (Study B). Its metrics come from the
study's metric tables (``results/metrics/{study}/metrics.parquet`` and the ``pairs`` and
``unpaired`` tables beside it). A card is ``README.md``, ``card.json`` and ``curves.png``;
all files of a call appear together or none does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from reusebench.core.curves import read_curves
from reusebench.core.errors import InputError
from reusebench.core.forecast.predict import read_forecast_table
from reusebench.core.io import atomic_write_all, check_output
from reusebench.core.opscore import ranking
from reusebench.core.pairs import PAIR_COLUMNS, UNPAIRED_COLUMNS
from reusebench.core.tradeoff_runs import OWN_SPLIT
from reusebench.reporting.cards.content import (
    FIGURE,
    forecast_summary,
    seed_spread,
    study_a_card,
    study_b_card,
)
from reusebench.reporting.cards.render import card_text, curves_figure, figure_png, flag_label
from reusebench.reporting.markdown import format_value

RECORDS = {"A": "provenance.json", "B": "summary.json"}
CHECKPOINT = "checkpoint.pt"
CARD = "README.md"
CARD_JSON = "card.json"
MAIN_SCORE = {"A": "pixel_accuracy", "B": "accuracy"}
OPSCORE_COLUMNS = ("arch", "technique", "device", "accuracy", "n_test", "size_mb", "gzip_mb",
                   "train_seconds", "test_seconds", "total_seconds")


@dataclass(frozen=True)
class RunFolder:
    """What a run folder holds: its curve rows, provenance or summary, checkpoint size."""

    path: Path
    curves: pd.DataFrame
    record: dict[str, Any]
    checkpoint_bytes: int | None

    @property
    def run_id(self) -> str:
        return str(self.curves["run_id"].iloc[0])

    @property
    def study(self) -> str:
        return str(self.curves["study"].iloc[0])


@dataclass(frozen=True)
class MetricTables:
    """A study's metric tables: per-run metrics, pairs, unpaired runs."""

    metrics: pd.DataFrame
    pairs: pd.DataFrame
    unpaired: pd.DataFrame
    source: Path


def read_run_folder(path: str | Path) -> RunFolder:
    """Read a run folder; InputError when it is not one of the pipeline's run folders."""
    path = Path(path)
    curves_path = path / "curves.csv"
    if not curves_path.is_file():
        raise InputError(f"{path} is not a run folder of the pipeline: it has no curves.csv.")
    curves = read_curves(curves_path)
    if curves["run_id"].nunique() != 1:
        raise InputError(f"{curves_path} holds {curves['run_id'].nunique()} runs, but a run "
                         "folder's curve table holds one.")
    study = str(curves["study"].iloc[0])
    if study not in RECORDS:
        raise InputError(f"{curves_path} is a run of study {study!r}; model cards exist for "
                         "studies A and B only.")
    record_path = path / RECORDS[study]
    if not record_path.is_file():
        raise InputError(f"{path} is not a run folder of the pipeline: a Study {study} run "
                         f"folder holds {RECORDS[study]} beside curves.csv.")
    checkpoint = path / CHECKPOINT
    return RunFolder(path, curves, _read_json(record_path),
                     checkpoint.stat().st_size if checkpoint.is_file() else None)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InputError(f"{path} cannot be read as JSON ({error}).") from error
    if not isinstance(document, dict):
        raise InputError(f"{path} must hold a JSON object.")
    return document


def results_root(run_dir: str | Path, study: str) -> Path | None:
    """RESULTS for a run folder under ``RESULTS/runs/{study}/…``; None elsewhere."""
    for parent in Path(run_dir).resolve().parents:
        if parent.name == study and parent.parent.name == "runs":
            return parent.parent.parent
    return None


def default_metrics_path(run_dir: str | Path, study: str) -> Path:
    """``RESULTS/metrics/{study}/metrics.parquet`` of the results tree the run folder is in."""
    root = results_root(run_dir, study)
    if root is None:
        raise InputError(f"{run_dir} does not lie under a runs/{study} folder of a results "
                         "tree, so its metrics table is unknown: pass --metrics.")
    return root / "metrics" / study / "metrics.parquet"


def read_metric_tables(metrics_path: str | Path) -> MetricTables:
    """The metrics table plus the pairs and unpaired tables beside it (empty when absent)."""
    path = Path(metrics_path)
    if not path.is_file():
        raise InputError(f"{path}: no such metrics table (run `reusebench metrics` or the "
                         "workflow's metrics rule first).")
    metrics = _read_table(path)
    missing = [column for column in ("run_id", "study", "m_er", "n_epochs")
               if column not in metrics.columns]
    if missing:
        raise InputError(f"{path}: not a metrics table, it has no column '{missing[0]}'.")
    pairs_path, unpaired_path = (path.with_name(f"{name}{path.suffix}")
                                 for name in ("pairs", "unpaired"))
    pairs = (_read_table(pairs_path) if pairs_path.is_file()
             else pd.DataFrame(columns=PAIR_COLUMNS))
    unpaired = (_read_table(unpaired_path) if unpaired_path.is_file()
                else pd.DataFrame(columns=UNPAIRED_COLUMNS))
    return MetricTables(metrics, pairs, unpaired, path)


def _read_table(path: Path) -> pd.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix == ".csv":
            return pd.read_csv(path)
    except Exception as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{path} cannot be read as a table ({first_line}).") from error
    raise InputError(f"{path}: a metrics table must end in .parquet or .csv.")


def read_runs_table(path: str | Path | None) -> pd.DataFrame | None:
    """Study B's table of run summaries (``results/tradeoff/runs.csv``), if there is one."""
    if path is None or not Path(path).is_file():
        return None
    return pd.read_csv(path, dtype={"split": str})


# ---------------------------------------------------------------- Study B OpScore


def run_opscores(summary: dict[str, Any]) -> dict[str, float] | None:
    """OpScore of a run summary scored alone (the ranking's formula and error floor)."""
    if any(summary.get(column) is None for column in OPSCORE_COLUMNS):
        return None
    scored = ranking(pd.DataFrame([{column: summary[column] for column in OPSCORE_COLUMNS}]))
    row = scored[scored["rank"].notna()].iloc[0]
    return {column: float(row[column]) for column in scored.columns
            if column.startswith("opscore_")}


def opscore_rank(runs: pd.DataFrame | None, summary: dict[str, Any]) -> tuple[int, int] | None:
    """(rank, runs ranked) of the run in its data set's OpScore ranking (own split only)."""
    if runs is None or summary.get("split") != OWN_SPLIT:
        return None
    mine = runs[(runs["split"] == OWN_SPLIT) & (runs["dataset"] == summary.get("source_dataset"))]
    if mine.empty:
        return None
    ranked = ranking(mine)
    ranked = ranked[ranked["rank"].notna()]
    match = ranked[(ranked["arch"] == summary.get("arch"))
                   & (ranked["technique"] == summary.get("technique"))
                   & (ranked["device"] == summary.get("device"))]
    if "seed" in match.columns and summary.get("seed") is not None:
        match = match[match["seed"] == summary["seed"]]
    return None if match.empty else (int(match["rank"].iloc[0]), len(ranked))


# ---------------------------------------------------------------- cards


def run_card_content(folder: RunFolder, tables: MetricTables,
                     runs: pd.DataFrame | None = None,
                     forecasts: pd.DataFrame | None = None) -> dict[str, Any]:
    """The card fields of a run folder; InputError when the metrics table lacks the run.

    ``forecasts`` (a forecast table, e.g. the workflow's ``forecast/{study}/forecast.csv``)
    gives the card its ``forecast`` entry; without it the entry is None.
    """
    rows = tables.metrics[tables.metrics["run_id"] == folder.run_id]
    if rows.empty:
        raise InputError(f"Run {folder.run_id} (from {folder.path}) is not in the metrics "
                         f"table {tables.source}.")
    run = rows.iloc[0].to_dict()
    if folder.study == "A":
        content = study_a_card(run, folder.curves, folder.record, tables.pairs,
                               tables.unpaired, folder.checkpoint_bytes)
    else:
        content = study_b_card(run, folder.curves, folder.record, tables.pairs,
                               tables.unpaired, run_opscores(folder.record),
                               opscore_rank(runs, folder.record))
    content["seed_spread"] = seed_spread(run, tables.metrics)
    content["forecast"] = (None if forecasts is None else forecast_summary(
        forecasts[forecasts["run_id"] == folder.run_id], folder.curves))
    return content


def card_files(content: dict[str, Any], curves: pd.DataFrame) -> dict[str, bytes]:
    """File name → bytes of one card: README.md, card.json and the curves PNG."""
    document = json.dumps(content, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    return {CARD: card_text(content).encode(), CARD_JSON: document.encode(),
            FIGURE: figure_png(curves_figure(curves, content))}


def write_files(files: dict[Path, bytes]) -> None:
    """Write every file, all or none."""
    writes: dict[Path, Callable[[Path], object]] = {
        path: (lambda tmp, data=data: tmp.write_bytes(data)) for path, data in files.items()}
    atomic_write_all(writes)


def write_run_card(run_dir: str | Path, metrics_path: str | Path | None = None,
                   out_dir: str | Path | None = None,
                   forecast_path: str | Path | None = None) -> Path:
    """The card of one run folder, written to ``out_dir`` (default: the run folder).

    The metrics table defaults to the results tree's ``metrics/{study}/metrics.parquet``;
    a Study B card ranks its OpScore against ``tradeoff/runs.csv`` there when it exists;
    the forecast table defaults to the tree's ``forecast/{study}/forecast.csv`` when it
    exists. Returns the README.md path.
    """
    if out_dir is not None:
        check_output(out_dir, folder=True)
    folder = read_run_folder(run_dir)
    tables = read_metric_tables(metrics_path or default_metrics_path(folder.path, folder.study))
    root = results_root(folder.path, folder.study)
    runs = read_runs_table(root / "tradeoff" / "runs.csv") if root and folder.study == "B" \
        else None
    if forecast_path is None and root is not None:
        tree_forecast = root / "forecast" / folder.study / "forecast.csv"
        forecast_path = tree_forecast if tree_forecast.is_file() else None
    forecasts = None if forecast_path is None else read_forecast_table(forecast_path)
    content = run_card_content(folder, tables, runs, forecasts)
    out = Path(out_dir) if out_dir is not None else folder.path
    write_files({out / name: data for name, data in card_files(content, folder.curves).items()})
    return out / CARD


def card_folder(run_id: str) -> Path:
    """A card's folder below the study's card folder: the run id without its study."""
    parts = run_id.split("/")[1:]
    if not parts or any(part in ("", ".", "..") for part in parts):
        raise InputError(f"Run id {run_id!r} cannot name a card folder.")
    return Path(*parts)


def write_study_cards(run_dirs: Sequence[str | Path], metrics_path: str | Path,
                      out_dir: str | Path, index_path: str | Path,
                      runs_path: str | Path | None = None,
                      forecast_path: str | Path | None = None) -> list[dict[str, Any]]:
    """Cards of many run folders of one study under ``out_dir``, and an index of them.

    Each card goes to ``out_dir/<run id without the study>/``; the Markdown index links
    them. With ``forecast_path`` (a forecast table) each card carries its run's forecast.
    Everything is built before anything is written. Returns the card contents.
    """
    tables, runs = read_metric_tables(metrics_path), read_runs_table(runs_path)
    forecasts = None if forecast_path is None else read_forecast_table(forecast_path)
    out_dir, index_path = Path(out_dir), Path(index_path)
    files: dict[Path, bytes] = {}
    contents = []
    for run_dir in run_dirs:
        folder = read_run_folder(run_dir)
        content = run_card_content(folder, tables, runs, forecasts)
        card_dir = out_dir / card_folder(content["run_id"])
        files.update({card_dir / name: data
                      for name, data in card_files(content, folder.curves).items()})
        contents.append(content)
    if not contents:
        raise InputError("No run folders were given, so there is no model card to write.")
    files[index_path] = index_markdown(contents, out_dir, index_path).encode()
    write_files(files)
    return contents


def index_markdown(contents: Sequence[dict[str, Any]], out_dir: Path, index_path: Path) -> str:
    """A Markdown table of the cards: run, task metrics, a link to each README.md."""
    study = contents[0]["keys"]["study"]
    score = MAIN_SCORE[study]
    rows = ["| run | flag | M_er | " + score.replace("_", " ") + " | not measured | card |",
            "| --- | --- | --- | --- | --- | --- |"]
    n_flagged = 0
    for content in sorted(contents, key=lambda item: item["run_id"]):
        values = {entry["key"]: entry["value"] for entry in content["metrics"]}
        link = os.path.relpath(out_dir / card_folder(content["run_id"]) / CARD,
                               index_path.parent)
        label = flag_label(content.get("flags") or {})
        n_flagged += bool(label)
        rows.append(f"| `{content['run_id']}` | {f'**{label}**' if label else ''} | "
                    f"{_value(values.get('m_er'))} | {_value(values.get(score))} | "
                    f"{len(content['not_measured'])} | [{CARD}]({link}) |")
    flagged_text = (f" {n_flagged} of them are flagged diverged or not learning (the flag "
                    "column; each card says why): their metrics do not describe a trained "
                    "model." if n_flagged else "")
    return (f"# Model cards: Study {study}\n\n{len(contents)} trained runs.{flagged_text} "
            f"Each card folder holds {CARD} (a Hugging Face model card with the task and reuse "
            f"metrics in its YAML metadata), {CARD_JSON} (the same content) and {FIGURE} (the "
            "run's curves). M_er is the minimum test loss (lower is better).\n\n"
            + "\n".join(rows) + "\n")


def _value(value: Any) -> str:
    return "not measured" if value is None else format_value(value, 4)
