"""Rank trained runs for a reuse task of Study A, Table 1, from the metrics tables.

Study A (Sec. 1, Table 1) lists tasks that reuse trained models and the metrics each one
needs; Sec. 2 ("Design of a recommendation system") ranks models by those metrics. The
mapping used here (Table 1's "Needed metrics" → columns of the metrics / pairs tables; ↓
lower is better, ↑ higher is better):

============  ==========================================  ==================================
task          Table 1 task and its needed metrics         metrics (direction)
============  ==========================================  ==================================
inference     1. Inference on new hardware:               GPU^MaxM ↓, GPU^AvgU ↓, T(M_er) ↓
              GPU utilization and exec. time
reproduce     2. Reproduce training: error,               M_er ↓, GPU^MaxM ↓, GPU^AvgU ↓,
              GPU utilization and exec. time              T(M_er) ↓
refine        3. Model refinement by param. optimization: Δ(fit) min ↓, GPU^MaxM ↓,
              convergence, GPU utilization, exec. time    GPU^AvgU ↓, T(M_er) ↓
transfer      5. Transfer learning: gain from             G_init ↑, D_init(data) ↑
              pretraining, data domain compatibility      (pairs table, data pairs)
robustness    6. Robustness to data, architecture and     D_unif ↑, M_er ↓, M_stab ↓
              hyper-parameter perturbations: data
              uniformity, error, stability
============  ==========================================  ==================================

Symbols, units and directions come from the metric registry (:mod:`reusebench.core.metricdefs`).
A metrics table computed with the Study A authors' definitions (its ``definitions`` column)
is ranked with their directions: their G_init and D_init(data) are lower-is-better.

"GPU utilization" is Table 2's pair GPU^MaxM, GPU^AvgU (Eq. 6): less memory and less
average load mean the model asks less of the hardware it moves to. "Exec. time" is the
speed T(M_er) (Eq. 3), the only time in the metrics table. Convergence is the best of the
six Δ(fit) values (Eq. 5). G_init and D_init(data) (Eq. 4, 9) belong to a pretrained run
and its random-init twin; the pretrained run is the one ranked. Task 4 (architecture
search) reuses data sets, not trained models, and is left to the NAS-Bench-101 analysis.

Ranking rule: runs are ranked within their data set (a model serves the data it was trained
on, and Study B compares models on the same data set "for fairness", Sec. 1). Each run gets
its rank on every metric of the task among the runs of its data set (ties share the lower
rank); runs are ordered by the mean of those ranks; equal means are ordered by the task's
first metric, then by run_id. A metric that no candidate run has (GPU metrics of CPU runs)
is left out of the ranking and named in the notes. A run without a value that other runs
have is listed after the ranked runs as "not ranked: <metric> missing". Constraints
(``max_gpu_mem_mb`` on GPU^MaxM, ``max_time_s`` on T(M_er)) drop the runs above them and
count them in the notes; a run whose constrained metric is missing is listed as not ranked.
A run flagged ``diverged`` or ``not_learning`` in the metrics table is never ranked: its
metrics do not describe a trained model. Flagged runs are listed last, with their
``flag_reason``, and counted in the notes; for task transfer, so is a pretrained run whose
random-init partner is flagged (its G_init and D_init(data) measure the partner's failure).

With a forecast table (``reusebench forecast``; :func:`with_forecast`), task refine ranks
by the predicted M_er ↓ too, as its first metric: the median forecast of M_er from the
run's first N epochs (the largest N that gave a forecast, of the table's first
predictor), with its 80 % and 95 % intervals in the table and the 80 % one in the reason.
A run the table has no forecast of is listed as not ranked (predicted M_er missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from reusebench.core.errors import InputError
from reusebench.core.forecast.predict import latest_forecasts
from reusebench.core.io import TABLE_SUFFIXES, atomic_write_all, table_writer
from reusebench.core.metricdefs import (
    BY_COLUMN,
    LOWER,
    METRICS_TABLE,
    PAPER,
    MetricDef,
    definitions_of,
)
from reusebench.core.metrics import FLAG_COLUMNS
from reusebench.reporting.markdown import format_value, markdown_table

KEY_COLUMNS = ("run_id", "study", "dataset", "arch", "init", "lr", "seed", "device")
PAIR_NEEDS = ("kind", "run_id_b", "g_init", "d_init")
FLAG_LABELS = {"diverged": "diverged", "not_learning": "not learning"}


@dataclass(frozen=True)
class Task:
    name: str
    table1: str
    metrics: tuple[MetricDef, ...]
    needs_pairs: bool = False


M_ER, GPU_MEM, GPU_UTIL, SPEED, FIT, G_INIT, D_INIT, D_UNIF, M_STAB = (
    BY_COLUMN[column] for column in ("m_er", "gpu_max_mem_mb", "gpu_avg_util_pct", "t_m_er",
                                     "delta_fit_min", "g_init", "d_init_data", "d_unif",
                                     "m_stab"))

TASKS = {task.name: task for task in (
    Task("inference", "1. Inference on new hardware", (GPU_MEM, GPU_UTIL, SPEED)),
    Task("reproduce", "2. Reproduce training", (M_ER, GPU_MEM, GPU_UTIL, SPEED)),
    Task("refine", "3. Model refinement by param. optimization",
         (FIT, GPU_MEM, GPU_UTIL, SPEED)),
    Task("transfer", "5. Transfer learning", (G_INIT, D_INIT), needs_pairs=True),
    Task("robustness", "6. Evaluate robustness to data, architecture and hyper-param. "
         "perturbations", (D_UNIF, M_ER, M_STAB)),
)}


FORECAST_TABLE = "forecast table"
PREDICTED_M_ER = MetricDef(
    "forecast_m_er", "predicted M_er", "forecast", "", LOWER,
    "predicted M_er: forecast minimum test loss",
    "Median forecast of M_er (the minimum test loss over all epochs) from the run's first N "
    "epochs (reusebench forecast, the largest N that gave a forecast), with its central "
    "80 % and 95 % intervals.", ("test_loss",), True, source=FORECAST_TABLE)
FORECAST_COLUMNS = ("forecast_m_er_lo80", "forecast_m_er_hi80", "forecast_m_er_lo95",
                    "forecast_m_er_hi95", "forecast_n", "forecast_predictor")


@dataclass
class Constraints:
    max_gpu_mem_mb: float | None = None
    max_time_s: float | None = None
    dataset: str | None = None

    def limits(self) -> list[tuple[MetricDef, float, str]]:
        found = [(GPU_MEM, self.max_gpu_mem_mb, "--max-gpu-mem"),
                 (SPEED, self.max_time_s, "--max-time")]
        return [(metric, limit, option) for metric, limit, option in found if limit is not None]


@dataclass
class Recommendation:
    task: Task
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    definitions: str = PAPER

    @property
    def n_ranked(self) -> int:
        return int(self.table["rank"].notna().sum())


def task_of(name: str) -> Task:
    if name not in TASKS:
        raise InputError(f"Unknown task '{name}'; choose one of {', '.join(TASKS)}.")
    return TASKS[name]


def read_table(path: str | Path, what: str) -> pd.DataFrame:
    """A metrics or pairs table from CSV or Parquet; bad files raise one InputError sentence."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such {what} file.")
    if path.suffix not in (".csv", ".parquet"):
        raise InputError(f"{path}: a {what} file must end in .csv or .parquet.")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype={"run_id": str, "run_id_b": str, "dataset": str})
    except Exception as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{path}: cannot be read as a {what} ({first_line}).") from error


def candidate_table(task: Task, metrics: pd.DataFrame, pairs: pd.DataFrame | None = None,
                    source: str = "the metrics table",
                    pairs_source: str = "the pairs table") -> pd.DataFrame:
    """Run keys and the task's metric columns, one row per run; missing columns raise."""
    own = [m.column for m in task.metrics if m.source == METRICS_TABLE]
    needed = [*KEY_COLUMNS, *own]
    _require(metrics, needed, source, task.name)
    table = metrics[needed].copy()
    table["flag"], table["flag_reason"] = run_flag_text(metrics)
    table["definitions"] = definitions_of(metrics)
    if task.needs_pairs:
        if pairs is None:
            raise InputError(f"Task '{task.name}' needs the pairs table (--pairs) for G_init "
                             "and D_init(data).")
        _require(pairs, PAIR_NEEDS, pairs_source, task.name)
        data = pairs.loc[pairs["kind"] == "data", ["run_id_b", "g_init", "d_init"]]
        data = data.rename(columns={"run_id_b": "run_id", "d_init": "d_init_data"})
        table = table.merge(data.drop_duplicates("run_id"), on="run_id", how="left")
        table = _flag_by_partner(table, pairs, metrics)
    return table


def with_forecast(task: Task, candidates: pd.DataFrame,
                  forecasts: pd.DataFrame) -> tuple[Task, pd.DataFrame]:
    """Task refine with the predicted M_er as its first metric, and the candidates with the
    forecast of each run (median and 80 % / 95 % interval ends of M_er, N, predictor)."""
    if task.name != "refine":
        raise InputError(f"--forecast is used by task refine only, not by task '{task.name}'.")
    latest = latest_forecasts(forecasts)
    found = pd.DataFrame({
        "run_id": latest.index.astype(str),
        PREDICTED_M_ER.column: latest["best"].to_numpy(dtype="float64"),
        **{f"forecast_m_er_{end}": latest[f"best_{end}"].to_numpy(dtype="float64")
           for end in ("lo80", "hi80", "lo95", "hi95")},
        "forecast_n": latest["observed_n"].to_numpy(dtype="float64"),
        "forecast_predictor": latest["predictor"].astype(str).to_numpy()})
    merged = candidates.drop(columns=[PREDICTED_M_ER.column, *FORECAST_COLUMNS],
                             errors="ignore").merge(found, on="run_id", how="left")
    return replace(task, metrics=(PREDICTED_M_ER, *task.metrics)), merged


def run_flag_text(metrics: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per run, its flags ("diverged", "not learning", both, or "") and the flag reason.

    A table without flag columns (written before they existed) flags nothing.
    """
    labels = pd.Series("", index=metrics.index, dtype=object)
    for column in FLAG_COLUMNS:
        if column in metrics.columns:
            marked = metrics[column].fillna(False).astype(bool)
            labels = labels.where(~marked, labels + ", " + FLAG_LABELS[column])
    labels = labels.str.removeprefix(", ")
    reasons = (metrics["flag_reason"].fillna("").astype(str) if "flag_reason" in metrics
               else pd.Series("", index=metrics.index, dtype=object))
    reasons = reasons.where(reasons != "", labels)  # a flag without a recorded reason
    return labels, reasons.where(labels != "", "")


def _flag_by_partner(table: pd.DataFrame, pairs: pd.DataFrame,
                     metrics: pd.DataFrame) -> pd.DataFrame:
    """Flag a pretrained run whose data-pair partner (random init) is flagged."""
    if "run_id_a" not in pairs.columns:
        return table
    labels, reasons = run_flag_text(metrics)
    partner_flags = pd.DataFrame({"run_id_a": metrics["run_id"], "_label": labels,
                                  "_reason": reasons})
    data = pairs.loc[pairs["kind"] == "data", ["run_id_a", "run_id_b"]].drop_duplicates(
        "run_id_b").merge(partner_flags[partner_flags["_label"] != ""], on="run_id_a")
    data = data.rename(columns={"run_id_b": "run_id"})
    merged = table.merge(data, on="run_id", how="left")
    hit = merged["_label"].notna() & (merged["flag"] == "")
    merged.loc[hit, "flag"] = "partner " + merged.loc[hit, "_label"]
    merged.loc[hit, "flag_reason"] = ("data-pair partner " + merged.loc[hit, "run_id_a"]
                                      + " is flagged: " + merged.loc[hit, "_reason"])
    return merged.drop(columns=["run_id_a", "_label", "_reason"])


def _require(table: pd.DataFrame, columns: list[str] | tuple[str, ...], source: str,
             task: str) -> None:
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise InputError(f"{source} lacks the column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(repr(c) for c in missing)} that task '{task}' needs.")


def recommend(task: Task, candidates: pd.DataFrame,
              constraints: Constraints | None = None) -> Recommendation:
    """The ranked runs (rank, keys, metrics, mean_rank, reason), then the unranked ones."""
    constraints = constraints or Constraints()
    notes: list[str] = []
    definitions = definitions_of(candidates)
    if "flag" not in candidates.columns:
        candidates = candidates.assign(flag="", flag_reason="")
    runs = _within_dataset(candidates, constraints.dataset)
    runs, flagged = _set_aside_flagged(runs, notes)
    runs, blocked = _apply_limits(runs, constraints, notes)
    used = [m for m in task.metrics if runs[m.column].notna().any()]
    for metric in task.metrics:
        if metric not in used:
            notes.append(f"{metric.symbol} is not measured in any candidate run: left out of "
                         "the ranking.")
    missing = _first_missing(runs, used or list(task.metrics))
    complete = runs[missing.isna()]
    ranked = pd.concat([_ranked(part, used, definitions)
                        for _, part in complete.groupby("dataset")]
                       or [_ranked(complete, used, definitions)], ignore_index=True)
    unranked = runs[missing.notna()].assign(
        rank=pd.NA, mean_rank=np.nan,
        reason="not ranked: " + missing[missing.notna()] + " missing")
    table = pd.concat([ranked, unranked.sort_values("run_id"), blocked, flagged],
                      ignore_index=True)
    table["rank"] = table["rank"].astype("Int64")
    forecast = [column for column in FORECAST_COLUMNS if column in table.columns]
    columns = ["rank", *KEY_COLUMNS, *[m.column for m in task.metrics], *forecast, "mean_rank",
               "flag", "reason"]
    notes.insert(0, f"{len(ranked)} runs ranked, {len(table) - len(ranked)} not ranked.")
    return Recommendation(task, table[columns], notes, definitions)


def _set_aside_flagged(runs: pd.DataFrame,
                       notes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Runs without a flag, and the flagged ones as unranked rows (counted in the notes)."""
    marked = runs["flag"] != "" if "flag" in runs.columns else pd.Series(False, runs.index)
    if marked.any():
        notes.append(f"{int(marked.sum())} runs flagged (diverged, not learning, or a flagged "
                     "data-pair partner): not ranked, listed last with the reason.")
    aside = runs[marked].assign(rank=pd.NA, mean_rank=np.nan)
    aside["reason"] = "not ranked: flagged " + aside["flag"] + " — " + aside["flag_reason"]
    return runs[~marked], aside.sort_values("run_id")


def _within_dataset(runs: pd.DataFrame, dataset: str | None) -> pd.DataFrame:
    if dataset is None:
        return runs
    known = sorted(runs["dataset"].astype(str).unique())
    if dataset not in known:
        raise InputError(f"Data set '{dataset}' has no runs in the metrics table (data sets: "
                         f"{', '.join(known) or 'none'}).")
    return runs[runs["dataset"].astype(str) == dataset]


def _apply_limits(runs: pd.DataFrame, constraints: Constraints,
                  notes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop runs above a limit (counted in the notes); runs it cannot check are returned."""
    blocked = []
    for metric, limit, option in constraints.limits():
        values = runs[metric.column]
        unknown = runs[values.isna()]
        over = values > limit
        if over.any():
            notes.append(f"{int(over.sum())} runs excluded by {option} {format_value(limit)} "
                         f"({metric.symbol} above it).")
        blocked.append(unknown.assign(rank=pd.NA, mean_rank=np.nan, reason=(
            f"not ranked: {metric.column} missing (needed by {option})")))
        runs = runs[values.notna() & ~over]
    blocked_runs = pd.concat(blocked, ignore_index=True) if blocked else runs.iloc[:0]
    return runs, blocked_runs.sort_values("run_id") if len(blocked_runs) else blocked_runs


def _first_missing(runs: pd.DataFrame, used: list[MetricDef]) -> pd.Series:
    """Per run, the column of the first used metric it lacks (NaN where it has them all)."""
    missing = pd.Series(np.nan, index=runs.index, dtype=object)
    for metric in reversed(used):
        missing[runs[metric.column].isna()] = metric.column
    return missing


def _ranked(runs: pd.DataFrame, used: list[MetricDef], definitions: str) -> pd.DataFrame:
    """One data set's runs in rank order, with mean_rank, rank and reason."""
    if runs.empty or not used:
        return runs.assign(rank=pd.Series(dtype="Int64"), mean_rank=np.nan,
                           reason="").iloc[:0]
    lower = {m.column: m.better(definitions) == LOWER for m in used}
    ranks = pd.DataFrame({m.column: runs[m.column].rank(method="min", ascending=lower[m.column])
                          for m in used}, index=runs.index)
    first = used[0]
    ordered = runs.assign(mean_rank=ranks.mean(axis=1),
                          _first=runs[first.column] * (1 if lower[first.column] else -1))
    ordered = ordered.sort_values(["mean_rank", "_first", "run_id"], kind="stable")
    ordered["rank"] = np.arange(1, len(ordered) + 1)
    ordered["reason"] = _reasons(ordered, ranks.loc[ordered.index], used, definitions)
    return ordered.drop(columns="_first")


def _reasons(ordered: pd.DataFrame, ranks: pd.DataFrame, used: list[MetricDef],
             definitions: str) -> list[str]:
    """Which values decided: each metric's value and rank, and how a tie was broken."""
    n = len(ordered)
    ties = ordered.groupby("mean_rank")["run_id"].transform("size")
    reasons = []
    for index, row in ordered.iterrows():
        parts = [f"{m.symbol} {format_value(row[m.column])}{f' {m.unit}' if m.unit else ''}"
                 f"{_forecast_note(m, row)} "
                 f"(#{int(ranks.at[index, m.column])}/{n}, {m.better(definitions)} is better)"
                 for m in used]
        reason = f"mean rank {row['mean_rank']:.3g}: " + ", ".join(parts)
        if ties[index] > 1:
            reason += (f"; tied on mean rank with {ties[index] - 1} other run(s), ordered by "
                       f"{used[0].symbol} then run_id")
        reasons.append(reason)
    return reasons


def _forecast_note(metric: MetricDef, row: pd.Series) -> str:
    """The 80 % interval, N and predictor behind a predicted M_er ('' for other metrics)."""
    if metric != PREDICTED_M_ER or "forecast_m_er_lo80" not in row:
        return ""
    return (f" [80 %: {format_value(row['forecast_m_er_lo80'])}, "
            f"{format_value(row['forecast_m_er_hi80'])}; N = {int(row['forecast_n'])}, "
            f"{row['forecast_predictor']}]")


def top_rows(recommendation: Recommendation, top: int | None) -> Recommendation:
    """Keep the first ``top`` ranked runs of each data set and every unranked one."""
    if top is None:
        return recommendation
    table = recommendation.table
    keep = table["rank"].isna() | (table["rank"] <= top)
    notes = [*recommendation.notes, f"Showing the top {top} ranked runs of each data set."]
    return Recommendation(recommendation.task, table[keep].reset_index(drop=True), notes,
                          recommendation.definitions)


def recommendation_markdown(recommendation: Recommendation) -> str:
    """Title, the task's metrics and directions, notes, and the table."""
    task, definitions = recommendation.task, recommendation.definitions
    metrics = ", ".join(f"{m.symbol} ({m.better(definitions)} is better)" for m in task.metrics)
    lines = [f"# Recommendation for task '{task.name}'\n",
             f"Study A Table 1 task {task.table1}. Metrics: {metrics}, {definitions} "
             "definitions. Ranked within each data set by the mean of the per-metric ranks; "
             "ties by the first metric, then run_id.\n",
             *[f"- {note}" for note in recommendation.notes], "",
             markdown_table(recommendation.table)]
    return "\n".join(lines)


def write_recommendation(recommendation: Recommendation, paths: list[str | Path]) -> None:
    """Write the table as CSV, Parquet and/or Markdown, by each path's suffix; all or none."""
    writes = {}
    for path in map(Path, paths):
        if path.suffix == ".md":
            writes[path] = lambda tmp: tmp.write_text(recommendation_markdown(recommendation))
        elif path.suffix in TABLE_SUFFIXES:
            writes[path] = table_writer(recommendation.table, path)
        else:
            raise InputError(f"{path}: a recommendation is written as .csv, .parquet or .md.")
    atomic_write_all(writes)
