"""Figures over curve and metric tables: convergence fits (Fig. 4), parallel coordinates
(Fig. 5, static and interactive) and stability (Fig. 6) of Study A."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from reusebench.core import fit
from reusebench.core.metricdefs import (
    BY_COLUMN,
    FIT_MODELS,
    fit_points_of,
    metric,
    paper_fit_column,
)
from reusebench.core.metrics import flagged

FIT_STYLES = {"pw": "-", "exp": ":"}
# Metric axes of the parallel-coordinate plot after lr (log scale); PAPER_FIT is the paper's
# P(PW_20), or PW at the largest N in use. Labels and log scales come from the registry.
PAPER_FIT = "paper_fit"
PARALLEL_METRICS = ("m_er", "m_stab", "t_m_er", "d_re", "d_unif", PAPER_FIT, "gpu_max_mem_mb",
                    "gpu_avg_util_pct")


def fit_colors(fit_points: list[int] | tuple[int, ...]) -> dict[int, tuple]:
    """One colour per fit point N, from green (smallest N) to red (largest)."""
    ordered = sorted(fit_points)
    spread = np.linspace(0.15, 0.9, len(ordered)) if len(ordered) > 1 else [0.5]
    return {n: plt.cm.RdYlGn_r(position) for n, position in zip(ordered, spread, strict=True)}


def parallel_axes(run_metrics: pd.DataFrame) -> list[tuple[str, bool, str]]:
    """(column, log scale, label) of each parallel-coordinate axis, lr first."""
    axes = [("lr", True, "lr")]
    points = fit_points_of(run_metrics.columns)
    for column in PARALLEL_METRICS:
        if column == PAPER_FIT:
            if not points:
                continue
            column = paper_fit_column(points)
        definition = metric(column, points)
        axes.append((column, definition.log_scale, definition.axis_label))
    return axes


def convergence_fits(curves: pd.DataFrame, run_metrics: pd.DataFrame,
                     title: str) -> plt.Figure:
    """Measured test loss of each run with its six fitted prediction curves (Fig. 4)."""
    runs = run_metrics.sort_values(["arch", "init", "lr"])
    n_columns = min(4, len(runs))
    n_rows = math.ceil(len(runs) / n_columns)
    figure, axes = plt.subplots(n_rows, n_columns, figsize=(3.2 * n_columns, 2.6 * n_rows),
                                squeeze=False, sharex=True)
    colors = fit_colors(fit_points_of(run_metrics.columns))
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
            axis.plot(epoch, predicted, FIT_STYLES[model], color=colors.get(n_points),
                      linewidth=1, label=f"{FIT_MODELS[model][0]}_{n_points}")
        axis.set_title(f"{run.arch} {run.init} lr={run.lr:g}\n"
                       f"{BY_COLUMN['delta_fit_min'].symbol}={run.delta_fit_min:.3g} "
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
    for column, log_scale, label in parallel_axes(run_metrics):
        if column not in run_metrics or run_metrics[column].notna().sum() == 0:
            continue
        values = run_metrics[column].to_numpy(dtype="float64")
        if log_scale:
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.log10(np.where(values > 0, values, np.nan))
            axes[column] = (values, f"log10 {label}")
        else:
            axes[column] = (values, label)
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
    axes[0][0].set_ylabel(f"{BY_COLUMN['m_stab'].label}{window_text(run_metrics)}\n"
                          f"(mean ± std over {seeds} seed{'s' * (seeds > 1)})")
    figure.tight_layout()
    return figure



def window_text(run_metrics: pd.DataFrame) -> str:
    """", δ = 5, window 11 epochs" (a range where runs differ); "" for a table without δ."""
    if "stab_delta" not in run_metrics.columns or run_metrics["stab_delta"].isna().all():
        return ""
    text = f", δ = {_span(run_metrics['stab_delta'])}"
    windows = run_metrics.get("stab_window", pd.Series(dtype="float64"))
    if (windows > 0).any():
        text += f", window {_span(windows[windows > 0])} epochs"
    return text


def _span(values: pd.Series) -> str:
    low, high = int(values.min()), int(values.max())
    return f"{low}" if low == high else f"{low}–{high}"
