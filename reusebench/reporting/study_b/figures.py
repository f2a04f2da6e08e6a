"""Study B figures (paper Figs. 3-8) from the run summaries and the curve tables.

Every function returns a matplotlib figure; a figure whose runs the config does not hold
says so instead of failing, so the workflow's targets do not depend on the config. Runs of
several seeds are drawn as the mean over seeds with error bars of ± one standard deviation
(a band for the curves); bubble labels are moved apart with adjustText.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from adjustText import adjust_text

from reusebench.core.opscore import pareto_front
from reusebench.core.tradeoff_runs import OWN_SPLIT

EMPTY = "no runs of this kind in the config"


def _grid(n_panels: int, width: float = 4.2, height: float = 3.2) -> tuple[plt.Figure, list]:
    columns = min(3, max(1, n_panels))
    rows = int(np.ceil(max(1, n_panels) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows),
                                squeeze=False)
    flat = list(axes.ravel())
    for axis in flat[n_panels:]:
        axis.axis("off")
    return figure, flat


def _empty(title: str) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(5, 2))
    axis.axis("off")
    axis.text(0.5, 0.5, f"{title}:\n{EMPTY}", ha="center", va="center")
    return figure


def accuracy_curves(curves: pd.DataFrame) -> plt.Figure:
    """Fig. 3: train (dashed) and test (solid) accuracy per epoch; a panel per dataset ×
    technique, a colour per model (the base technique and its unfreezing variants)."""
    title = "Fig. 3: accuracy per epoch"
    curves = curves[~curves["init"].str.contains(r"fp16|cluster|m2m")]
    if curves.empty:
        return _empty(title)
    panels = list(curves.groupby(["dataset", "init"], sort=True))
    figure, axes = _grid(len(panels))
    archs = sorted(curves["arch"].unique())
    colours = dict(zip(archs, plt.cm.tab10(np.arange(len(archs)) % 10), strict=True))
    for axis, ((dataset, technique), part) in zip(axes, panels, strict=False):
        for (arch, device), run in part.groupby(["arch", "device"]):
            label = arch + _device_suffix(device)
            epochs = run.groupby("epoch")[["train_accuracy", "test_accuracy"]]
            mean, std = epochs.mean(), epochs.std().fillna(0.0)
            axis.plot(mean.index, mean["train_accuracy"], "--", color=colours[arch])
            axis.plot(mean.index, mean["test_accuracy"], "-", color=colours[arch], label=label)
            axis.fill_between(mean.index, mean["test_accuracy"] - std["test_accuracy"],
                              mean["test_accuracy"] + std["test_accuracy"],
                              color=colours[arch], alpha=0.2)
        axis.set(title=f"{dataset}, {technique}", xlabel="epoch", ylabel="accuracy",
                 ylim=(0, 1.02))
        axis.legend(fontsize=7, title="solid: test (band ± sd over seeds), dashed: train",
                    title_fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def accuracy_by_technique(runs: pd.DataFrame) -> plt.Figure:
    """Fig. 4: test accuracy of every model × technique, in descending order, per dataset."""
    title = "Fig. 4: accuracy per technique"
    runs = runs[runs["split"] == OWN_SPLIT]
    if runs.empty:
        return _empty(title)
    panels = list(runs.groupby("dataset", sort=True))
    height = max(2.5, 0.28 * max(len(part) for _, part in panels) + 1)
    figure, axes = _grid(len(panels), width=5, height=height)
    for axis, (dataset, part) in zip(axes, panels, strict=False):
        part = over_seeds(part, ["arch", "technique", "device"], ["accuracy"])
        part = part.sort_values("accuracy")
        labels = part["arch"] + " " + part["technique"] + part["device"].map(_device_suffix)
        axis.barh(labels, part["accuracy"], xerr=part["accuracy_std"], color="tab:blue",
                  error_kw={"elinewidth": 1, "capsize": 2})
        axis.set(title=dataset, xlabel="test accuracy (mean ± sd over seeds)", xlim=(0, 1))
        axis.tick_params(axis="y", labelsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def over_seeds(runs: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    """Per group of ``keys``: the mean of each column (same name), ``{column}_std`` (0 for
    one seed) and ``n``, the number of runs (seeds)."""
    groups = runs.groupby(keys, sort=True, dropna=False)
    table = groups[columns].mean()
    for column in columns:
        table[f"{column}_std"] = groups[column].std().fillna(0.0)
    table["n"] = groups.size()
    return table.reset_index()


def _device_suffix(device: str) -> str:
    return "" if device == "cpu" else f" ({device})"


def _line_panels(runs: pd.DataFrame, title: str, x: str, keys: list[str], label,
                 xlabel: str) -> plt.Figure:
    """A panel per dataset, a line of test accuracy against ``x`` per group of ``keys``
    (``label`` names a group from its key values), x on log ticks."""
    panels = list(runs.groupby("dataset", sort=True))
    figure, axes = _grid(len(panels))
    for axis, (dataset, part) in zip(axes, panels, strict=False):
        for group, line in part.groupby(keys):
            line = over_seeds(line, [x], ["accuracy"]).sort_values(x)
            axis.errorbar(line[x], line["accuracy"], yerr=line["accuracy_std"], fmt="o-",
                          capsize=3, label=label(*group))
        axis.set(title=dataset, xlabel=xlabel, ylabel="test accuracy (mean ± sd over seeds)",
                 ylim=(0, 1.02))
        _log_ticks(axis, part[x])
        axis.legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def accuracy_vs_unfrozen(runs: pd.DataFrame) -> plt.Figure:
    """Fig. 5: test accuracy against the number of trained weight-bearing layers."""
    title = "Fig. 5: accuracy vs unfrozen layers"
    runs = runs[(runs["split"] == OWN_SPLIT) & (runs["method"] == "base")]
    if runs.empty:
        return _empty(title)
    return _line_panels(runs, title, "unfrozen_layers", ["arch", "device"],
                        lambda arch, device: arch + _device_suffix(device),
                        "trained weight-bearing layers (top N; all = base)")


def accuracy_vs_clusters(runs: pd.DataFrame) -> plt.Figure:
    """Fig. 8: test accuracy against the number of clusters K, per dataset and model."""
    title = "Fig. 8: accuracy vs number of clusters"
    clustered = runs[(runs["split"] == OWN_SPLIT) & (runs["method"] == "cluster")]
    if clustered.empty:
        return _empty(title)
    return _line_panels(clustered, title, "clusters", ["arch", "unfrozen_layers", "device"],
                        lambda arch, top, device: f"{arch}, {top} trained layers"
                                                  + _device_suffix(device),
                        "clusters K")


def _log_ticks(axis: plt.Axes, values: pd.Series) -> None:
    """A base-2 log x axis ticked at the values themselves (K or layer counts)."""
    ticks = sorted({int(value) for value in values})
    axis.set_xscale("log", base=2)
    axis.set_xticks(ticks, [str(tick) for tick in ticks])
    axis.minorticks_off()


def bubble_chart(runs: pd.DataFrame, dataset: str) -> plt.Figure:
    """Figs. 6-7: inference time (x) vs accuracy (y), bubble area ∝ saved size (MB).

    The step line is the Pareto front in time and accuracy; a black edge marks the runs no
    other run beats in all three of time, accuracy and size.
    """
    title = f"Accuracy, inference time and size: {dataset}"
    runs = runs[(runs["dataset"] == dataset)].reset_index(drop=True)
    if runs.empty:
        return _empty(title)
    runs = over_seeds(runs, ["arch", "technique", "device"],
                      ["test_seconds", "accuracy", "size_mb"])
    figure, axis = plt.subplots(figsize=(7, 5))
    area = 1200 * runs["size_mb"] / runs["size_mb"].max()
    axis.scatter(runs["test_seconds"], runs["accuracy"], s=area, alpha=0.45, color="tab:blue")
    axis.errorbar(runs["test_seconds"], runs["accuracy"], xerr=runs["test_seconds_std"],
                  yerr=runs["accuracy_std"], fmt="none", ecolor="grey", elinewidth=1, capsize=2)
    full = pareto_front(np.column_stack([runs["test_seconds"], -runs["accuracy"],
                                         runs["size_mb"]]))
    axis.scatter(runs.loc[full, "test_seconds"], runs.loc[full, "accuracy"],
                 s=area[full], facecolors="none", edgecolors="black", linewidths=1.5,
                 label="Pareto-optimal in time, accuracy and size")
    flat = pareto_front(np.column_stack([runs["test_seconds"], -runs["accuracy"]]))
    front = runs[flat].sort_values("test_seconds")
    axis.step(front["test_seconds"], front["accuracy"], where="post", color="tab:red",
              label="Pareto front (time, accuracy)")
    labels = [axis.text(run["test_seconds"], run["accuracy"], f"{run['arch']} {run['technique']}",
                        fontsize=7) for _, run in runs.iterrows()]
    adjust_text(labels, ax=axis, arrowprops={"arrowstyle": "-", "color": "grey", "lw": 0.5})
    seeds = int(runs["n"].max())
    axis.set(title=title + " (bubble area ∝ size in MB)",
             xlabel=f"inference time over the test set (s), mean ± sd over {seeds} seed(s)",
             ylabel="test accuracy")
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    return figure
