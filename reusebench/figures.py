"""Figures over curve and metric tables: convergence fits (Fig. 4), parallel coordinates
(Fig. 5, static and interactive) and stability (Fig. 6) of Study A."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from reusebench import fit
from reusebench.metrics import flagged

FIT_STYLES = {"pw": "-", "exp": ":"}
FIT_COLORS = {10: "tab:green", 15: "tab:orange", 20: "tab:red"}
# Axes of the parallel-coordinate plot; True where the paper draws them on a log scale.
PARALLEL_AXES = {"lr": True, "m_er": True, "m_stab": True, "t_m_er": False, "d_re": True,
                 "d_unif": False, "delta_fit_pw_20": True, "gpu_max_mem_mb": False,
                 "gpu_avg_util_pct": False}


def convergence_fits(curves: pd.DataFrame, run_metrics: pd.DataFrame,
                     title: str) -> plt.Figure:
    """Measured test loss of each run with its six fitted prediction curves (Fig. 4)."""
    runs = run_metrics.sort_values(["arch", "init", "lr"])
    n_columns = min(4, len(runs))
    n_rows = math.ceil(len(runs) / n_columns)
    figure, axes = plt.subplots(n_rows, n_columns, figsize=(3.2 * n_columns, 2.6 * n_rows),
                                squeeze=False, sharex=True)
    for axis, run in zip(axes.flat, runs.itertuples(index=False), strict=False):
        curve = curves[curves["run_id"] == run.run_id]
        epoch = curve["epoch"].to_numpy(dtype="float64")
        axis.plot(epoch, curve["test_loss"], "k.", markersize=3, label="measured")
        for column, value in run._asdict().items():
            if not (column.startswith("fit_") and column.endswith("_a")) or np.isnan(value):
                continue
            model, n_points = column.split("_")[1], int(column.split("_")[2])
            b = getattr(run, f"fit_{model}_{n_points}_b")
            predicted = fit.predict(model, np.array([value]), np.array([b]), epoch[None, :])[0]
            axis.plot(epoch, predicted, FIT_STYLES[model], color=FIT_COLORS.get(n_points),
                      linewidth=1, label=f"{model.upper()}_{n_points}")
        axis.set_title(f"{run.arch} {run.init} lr={run.lr:g}\nmin Δ={run.delta_fit_min:.3g} "
                       f"({run.delta_fit_best})", fontsize=8)
        axis.set_yscale("log")
        axis.tick_params(labelsize=7)
    for axis in list(axes.flat)[len(runs):]:
        axis.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=7, fontsize=8)
    figure.suptitle(title)
    figure.supylabel("test loss")
    for axis in axes[-1]:
        axis.set_xlabel("epoch")
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    return figure


def _parallel_values(run_metrics: pd.DataFrame) -> dict[str, tuple[np.ndarray, str]]:
    """Axis values (log10 where the paper uses a log scale) and their labels."""
    axes = {}
    for column, log_scale in PARALLEL_AXES.items():
        if column not in run_metrics or run_metrics[column].notna().sum() == 0:
            continue
        values = run_metrics[column].to_numpy(dtype="float64")
        if log_scale:
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.log10(np.where(values > 0, values, np.nan))
            axes[column] = (values, f"log10 {column}")
        else:
            axes[column] = (values, column)
    for column in ("arch", "init"):
        codes, labels = pd.factorize(run_metrics[column], sort=True)
        axes[column] = (codes.astype("float64"), f"{column}: " + ", ".join(labels))
    return axes


def parallel_coordinates(run_metrics: pd.DataFrame, title: str) -> plt.Figure:
    """One line per configuration over the metric axes, coloured by M_er (Fig. 5)."""
    axes = _parallel_values(run_metrics)
    names = list(axes)
    matrix = np.column_stack([axes[name][0] for name in names])
    low, high = np.nanmin(matrix, axis=0), np.nanmax(matrix, axis=0)
    scaled = (matrix - low) / np.where(high > low, high - low, 1.0)
    figure, axis = plt.subplots(figsize=(1.3 * len(names) + 2, 4.5))
    colors = plt.cm.viridis(pd.Series(run_metrics["m_er"]).rank(pct=True).fillna(1.0))
    for row, color in zip(scaled, colors, strict=True):
        axis.plot(range(len(names)), row, color=color, alpha=0.8, linewidth=1.2)
    axis.set_xticks(range(len(names)), [axes[name][1] for name in names], rotation=30,
                    ha="right", fontsize=7)
    for position, (lowest, highest) in enumerate(zip(low, high, strict=True)):
        axis.axvline(position, color="grey", linewidth=0.5)
        axis.annotate(f"{highest:.3g}", (position, 1.02), ha="center", fontsize=6)
        axis.annotate(f"{lowest:.3g}", (position, -0.06), ha="center", fontsize=6)
    axis.set_yticks([])
    axis.set_ylim(-0.1, 1.08)
    axis.set_title(f"{title} (colour: rank of M_er, dark = lowest)")
    return figure


def parallel_coordinates_html(run_metrics: pd.DataFrame, title: str) -> str:
    """The same plot as a self-contained interactive page (reorder and brush the axes)."""
    axes = _parallel_values(run_metrics)
    dimensions = [{"label": label, "values": np.nan_to_num(values, nan=np.nanmin(values)
                                                          if np.isfinite(values).any() else 0)}
                  for values, label in axes.values()]
    figure = go.Figure(go.Parcoords(
        line={"color": run_metrics["m_er"].fillna(run_metrics["m_er"].max()),
              "colorscale": "Viridis", "showscale": True, "colorbar": {"title": "M_er"}},
        dimensions=dimensions))
    figure.update_layout(title=title)
    return figure.to_html(include_plotlyjs=True, full_html=True)


def stability_by_arch(run_metrics: pd.DataFrame) -> plt.Figure:
    """M_stab per architecture, one panel per dataset (Fig. 6).

    One point per configuration (lr × init): the mean over its seeds, with an error bar of
    ± one standard deviation over seeds where there are several; the black line is the
    median over configurations. Runs flagged diverged or not learning are left out and
    counted in the panel title.
    """
    datasets = sorted(run_metrics["dataset"].unique())
    figure, axes = plt.subplots(1, len(datasets), figsize=(4 * len(datasets), 3.5),
                                squeeze=False, sharey=True)
    flagged_runs = flagged(run_metrics)
    config_keys = [key for key in ("lr", "init", "device") if key in run_metrics.columns]
    for axis, dataset in zip(axes[0], datasets, strict=True):
        in_dataset = run_metrics["dataset"] == dataset
        part = run_metrics[in_dataset & ~flagged_runs]
        archs = sorted(part["arch"].unique())
        for position, arch in enumerate(archs):
            by_config = (part[part["arch"] == arch].groupby(config_keys)["m_stab"]
                         .agg(["mean", "std"]).dropna(subset=["mean"]))
            jitter = np.linspace(-0.15, 0.15, len(by_config)) if len(by_config) > 1 else [0.0]
            axis.errorbar(position + np.asarray(jitter), by_config["mean"],
                          yerr=by_config["std"].fillna(0).to_numpy(), fmt="o", markersize=4,
                          capsize=2)
            if len(by_config):
                axis.hlines(by_config["mean"].median(), position - 0.25, position + 0.25,
                            color="k")
        axis.set_xticks(range(len(archs)), archs, rotation=30, ha="right")
        left_out = int((in_dataset & flagged_runs).sum())
        axis.set_title(dataset + (f" ({left_out} flagged runs left out)" if left_out else ""),
                       fontsize=9)
        axis.set_yscale("symlog", linthresh=1e-3)
    seeds = run_metrics["seed"].nunique() if "seed" in run_metrics.columns else 1
    axes[0][0].set_ylabel(f"M_stab (mean ± std over {seeds} seed{'s' * (seeds > 1)})")
    figure.tight_layout()
    return figure

