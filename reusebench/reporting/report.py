"""Tables and figures drawn from the metric tables."""

from __future__ import annotations

import pandas as pd

from reusebench.core.metricdefs import BY_COLUMN, definitions_of, fit_points_of, is_metric, metric
from reusebench.reporting.markdown import markdown_table

SUMMARY_COLUMNS = ("dataset", "arch", "init", "lr", "m_er", "ep_star", "m_stab", "stab_window",
                   "t_m_er", "d_re", "d_unif", "delta_fit_min", "delta_fit_best", "diverged")


def settings_line(run_metrics: pd.DataFrame) -> str:
    """The settings the metrics were computed with: definitions, δ and the fit points."""
    parts = [f"Definitions: {definitions_of(run_metrics)}"]
    if "stab_delta" in run_metrics.columns and run_metrics["stab_delta"].notna().any():
        deltas = sorted(int(d) for d in run_metrics["stab_delta"].dropna().unique())
        parts.append(f"stability half-width δ = {', '.join(map(str, deltas))} epochs "
                     "(window length used per run: stab_window)")
    points = fit_points_of(run_metrics.columns)
    if points:
        parts.append(f"Δ(fit) fitted to the first N ∈ {{{', '.join(map(str, points))}}} epochs")
    return "; ".join(parts) + "."


def symbol_header(columns: pd.Index) -> list[str]:
    """Column names as the registry's symbols (with unit) where the column is a metric."""
    return [metric(column).axis_label if is_metric(column) else column for column in columns]


def metrics_summary_markdown(run_metrics: pd.DataFrame, pairs: pd.DataFrame, study: str) -> str:
    """Per-run metrics sorted by dataset and M_er, and the mean G_init / D_init per dataset."""
    columns = [column for column in SUMMARY_COLUMNS if column in run_metrics.columns]
    runs = run_metrics.sort_values(["dataset", "m_er"])[columns]
    runs.columns = symbol_header(runs.columns)
    parts = [f"# Metrics of study {study}\n",
             f"{len(run_metrics)} runs, {int(run_metrics['diverged'].sum())} diverged. "
             f"{settings_line(run_metrics)}\n",
             "## Per run (sorted by M_er within each dataset)\n", markdown_table(runs)]
    if not pairs.empty:
        by_kind = (pairs.groupby(["kind", "dataset"])[["g_init", "d_init"]].mean()
                   .reset_index().rename(columns={"g_init": "mean G_init",
                                                  "d_init": "mean D_init"}))
        parts += ["\n## Pairs (mean per dataset; data: "
                  f"{_pair_formula('g_init', run_metrics)}, graph: a − b)\n",
                  markdown_table(by_kind)]
    return "\n".join(parts)


def _pair_formula(column: str, run_metrics: pd.DataFrame) -> str:
    """G_init's formula under the table's definitions, e.g. M_er(random) − M_er(pretrained)."""
    name = BY_COLUMN[column].pair_name("random", "pretrained", definitions_of(run_metrics))
    return name.split(": ", 1)[1]
