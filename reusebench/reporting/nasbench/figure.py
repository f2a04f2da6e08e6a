"""Fig. 7 of Study A: NAS-Bench-101 accuracies per budget, Inception-like vs ResNet-like."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from reusebench.reporting.nasbench.analysis import INCEPTION, RESNET

STYLES = {(INCEPTION, "halfway"): ("tab:orange", "--", "o"),
          (INCEPTION, "final"): ("tab:orange", "-", "s"),
          (RESNET, "halfway"): ("tab:blue", "--", "o"),
          (RESNET, "final"): ("tab:blue", "-", "s")}


def accuracy_by_budget(summary: pd.DataFrame, split: str = "validation") -> plt.Figure:
    """Mean ± std accuracy at the halfway and final evaluation of each epoch budget."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for (family, stage), (color, line, marker) in STYLES.items():
        part = summary[(summary["family"] == family) & (summary["stage"] == stage)]
        if part.empty:
            continue
        part = part.sort_values("epochs")
        axis.errorbar(part["epochs"], part[f"{split}_accuracy_mean"],
                      yerr=part[f"{split}_accuracy_std"].fillna(0), color=color, linestyle=line,
                      marker=marker, capsize=3,
                      label=f"{family} ({int(part['n_cells'].max())} cells), {stage}")
    axis.set_xscale("log")
    budgets = sorted(summary["epochs"].unique())
    axis.set_xticks(budgets, [str(b) for b in budgets])
    axis.set_xlabel("epoch budget")
    axis.set_ylabel(f"{split} accuracy (mean ± std over cells)")
    axis.set_title("NAS-Bench-101: Inception-like vs ResNet-like cells")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    return figure
