"""The two backtest figures: measured vs nominal interval coverage, and error vs N."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reusebench.reporting.plots import plt

LABELS = {"final": "final test loss", "best": "best test loss (M_er)"}
MARKERS = "osD^vP*X"


def coverage_figure(summary: pd.DataFrame) -> plt.Figure:
    """Measured coverage of the 80 % and 95 % intervals per predictor and N (ideal: diagonal)."""
    figure, axes = plt.subplots(1, 2, figsize=(9, 4), sharey=True)
    colours = _colours(summary)
    sizes = sorted(summary["observed_n"].unique())
    for axis, outcome in zip(axes, LABELS, strict=True):
        axis.plot([0.5, 1.0], [0.5, 1.0], color="grey", lw=1, ls="--", label="nominal")
        for (predictor, n_obs), row in summary.set_index(["predictor", "observed_n"]).iterrows():
            measured = [row[f"{outcome}_cover80"], row[f"{outcome}_cover95"]]
            axis.plot([0.8, 0.95], measured, color=colours[predictor],
                      marker=MARKERS[sizes.index(n_obs) % len(MARKERS)], lw=1, alpha=0.8)
        axis.set(title=LABELS[outcome], xlabel="nominal coverage", xlim=(0.5, 1.0),
                 ylim=(0.0, 1.02))
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("measured coverage")
    _legend(axes[1], colours, sizes)
    return figure


def error_figure(summary: pd.DataFrame) -> plt.Figure:
    """MAE of the final and the best loss against the number of observed epochs N."""
    figure, axes = plt.subplots(1, 2, figsize=(9, 4))
    colours = _colours(summary)
    for axis, outcome in zip(axes, LABELS, strict=True):
        for predictor, part in summary.groupby("predictor", sort=False):
            part = part.sort_values("observed_n")
            axis.plot(part["observed_n"], part[f"{outcome}_mae"], marker="o",
                      color=colours[predictor], label=predictor)
        axis.set(title=LABELS[outcome], xlabel="observed epochs N", ylabel="MAE")
        axis.grid(alpha=0.3)
    axes[1].legend(frameon=False)
    return figure


def _colours(summary: pd.DataFrame) -> dict[str, tuple]:
    names = list(dict.fromkeys(summary["predictor"]))
    cycle = plt.get_cmap("tab10")(np.arange(len(names)) % 10)
    return {name: tuple(colour) for name, colour in zip(names, cycle, strict=True)}


def _legend(axis: plt.Axes, colours: dict[str, tuple], sizes: list[int]) -> None:
    handles = [plt.Line2D([], [], color=colour, lw=2, label=name)
               for name, colour in colours.items()]
    handles += [plt.Line2D([], [], color="black", ls="", marker=MARKERS[i % len(MARKERS)],
                           label=f"N = {n}") for i, n in enumerate(sizes)]
    axis.legend(handles=handles, frameon=False, fontsize="small", loc="upper left",
                bbox_to_anchor=(1.02, 1.0))
