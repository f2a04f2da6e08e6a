"""Tables and figures drawn from the metric tables."""

from __future__ import annotations

import pandas as pd

from reusebench.markdown import markdown_table

SUMMARY_COLUMNS = ("dataset", "arch", "init", "lr", "m_er", "ep_star", "m_stab", "t_m_er",
                   "d_re", "d_unif", "delta_fit_min", "delta_fit_best", "diverged")


def metrics_summary_markdown(run_metrics: pd.DataFrame, pairs: pd.DataFrame, study: str) -> str:
    """Per-run metrics sorted by dataset and M_er, and the mean G_init / D_init per dataset."""
    runs = run_metrics.sort_values(["dataset", "m_er"])[list(SUMMARY_COLUMNS)]
    parts = [f"# Metrics of study {study}\n",
             f"{len(run_metrics)} runs, {int(run_metrics['diverged'].sum())} diverged.\n",
             "## Per run (sorted by M_er within each dataset)\n", markdown_table(runs)]
    if not pairs.empty:
        by_kind = (pairs.groupby(["kind", "dataset"])[["g_init", "d_init"]].mean()
                   .reset_index().rename(columns={"g_init": "mean g_init",
                                                  "d_init": "mean d_init"}))
        parts += ["\n## Pairs (mean per dataset; data: random − pretrained, graph: a − b)\n",
                  markdown_table(by_kind)]
    return "\n".join(parts)
