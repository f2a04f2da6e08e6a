"""Forecast reports: the two backtest figures (measured vs nominal interval coverage, and
error vs N) and the Markdown tables of a forecast and of a backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reusebench.reporting.markdown import format_value, markdown_table
from reusebench.reporting.plots import plt

LABELS = {"final": "final test loss", "best": "best test loss (M_er)"}
MARKERS = "osD^vP*X"


def coverage_figure(summary: pd.DataFrame) -> plt.Figure:
    """Measured coverage of the 80 % and 95 % intervals per predictor and N (ideal: diagonal);
    hollow markers on dotted lines: conformal intervals calibrated on the other data sets
    (none with a single data set)."""
    figure, axes = plt.subplots(1, 2, figsize=(9, 4), sharey=True)
    colours = _colours(summary)
    sizes = sorted(summary["observed_n"].unique())
    for axis, outcome in zip(axes, LABELS, strict=True):
        axis.plot([0.5, 1.0], [0.5, 1.0], color="grey", lw=1, ls="--", label="nominal")
        for (predictor, n_obs), row in summary.set_index(["predictor", "observed_n"]).iterrows():
            measured = [row[f"{outcome}_cover80"], row[f"{outcome}_cover95"]]
            marker = MARKERS[sizes.index(n_obs) % len(MARKERS)]
            axis.plot([0.8, 0.95], measured, color=colours[predictor], marker=marker, lw=1,
                      alpha=0.8)
            conformal = [row.get(f"{outcome}_conformal_cover80_unseen", np.nan),
                         row.get(f"{outcome}_conformal_cover95_unseen", np.nan)]
            axis.plot([0.8, 0.95], conformal, color=colours[predictor], marker=marker,
                      lw=1, ls=":", alpha=0.8, markerfacecolor="none")
        axis.set(title=LABELS[outcome], xlabel="nominal coverage", xlim=(0.5, 1.0),
                 ylim=(0.0, 1.02))
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("measured coverage")
    unseen = summary.filter(like="_conformal_cover").to_numpy(dtype="float64")
    _legend(axes[1], colours, sizes, conformal=bool(np.isfinite(unseen).any()))
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


def _legend(axis: plt.Axes, colours: dict[str, tuple], sizes: list[int],
            conformal: bool) -> None:
    handles = [plt.Line2D([], [], color=colour, lw=2, label=name)
               for name, colour in colours.items()]
    handles += [plt.Line2D([], [], color="black", ls="", marker=MARKERS[i % len(MARKERS)],
                           label=f"N = {n}") for i, n in enumerate(sizes)]
    if conformal:
        handles.append(plt.Line2D([], [], color="black", ls=":", marker="o",
                                  markerfacecolor="none", label="conformal, unseen data set"))
    axis.legend(handles=handles, frameon=False, fontsize="small", loc="upper left",
                bbox_to_anchor=(1.02, 1.0))


# ---------------------------------------------------------------- Markdown tables

OUTCOME_NAMES = {"final": "final", "best": "M_er", "best_epoch": "ep*"}


def interval_text(row: pd.Series | dict, name: str, level: str = "80",
                  kind: str = "") -> str:
    """'median [low, high]' of one outcome of a forecast row ('' where it has none); kind
    "_conformal" for the recalibrated interval."""
    median = row[name]
    if median is None or not np.isfinite(median):
        return ""
    low, high = row.get(f"{name}_lo{level}{kind}"), row.get(f"{name}_hi{level}{kind}")
    if low is None or np.isnan(low):
        return ""
    return f"{format_value(median)} [{format_value(low)}, {format_value(high)}]"


def weights_note(weights: dict | None) -> str:
    """One paragraph naming the pfn predictor's weights (empty without them)."""
    if not weights:
        return ""
    model = weights.get("model", {})
    return (f"Predictor pfn used the weights {weights['path']} (sha256 "
            f"{str(weights['sha256'])[:12]}; {weights.get('source', 'source not recorded')}; "
            f"{weights.get('steps', '?')} steps, {weights.get('parameters', '?')} parameters, "
            f"d_model {model.get('d_model', '?')}, {model.get('n_layers', '?')} layers).\n\n")


def forecast_markdown(table: pd.DataFrame, title: str, weights: dict | None = None) -> str:
    """Per run and predictor, the forecast from the largest N that gave one (else the
    status at the largest N): medians with central 80 % intervals."""
    ordered = table.assign(_ok=table["status"] == "ok").sort_values(
        ["_ok", "observed_n"], kind="stable")
    predictors = list(dict.fromkeys(table["predictor"]))
    latest = (ordered.drop_duplicates(["run_id", "predictor"], keep="last")
              .assign(_order=lambda rows: rows["predictor"].map(predictors.index))
              .sort_values(["run_id", "_order"], kind="stable"))
    rows = pd.DataFrame({
        "run": latest["run_id"], "target": latest["target"], "predictor": latest["predictor"],
        "N": latest["observed_n"], "status": latest["status"],
        **{f"{label} [80 %]": [interval_text(row, name) for _, row in latest.iterrows()]
           for name, label in OUTCOME_NAMES.items()},
        **({f"{OUTCOME_NAMES[name]} [80 % conformal]": [
            interval_text(row, name, kind="_conformal") for _, row in latest.iterrows()]
            for name in ("final", "best")} if "final_lo80_conformal" in table else {})})
    counts = table["status"].value_counts()
    tally = ", ".join(f"{status} {count}" for status, count in counts.items())
    return (f"# Forecasts: {title}\n\n{table['run_id'].nunique()} runs, N = "
            f"{', '.join(map(str, sorted(table['observed_n'].unique())))}, predictors "
            f"{', '.join(predictors)} (statuses over every run, N and "
            f"predictor: {tally}). Each row: the forecast from the largest N that gave one, or "
            "the status at the largest N; median and central 80 % interval of the final "
            "test loss, of M_er (the best test loss, observed epochs included) and of ep*; "
            "`conformal`: the 80 % interval recalibrated on how far the backtest's "
            "intervals of the other runs missed (leave one run out; ±inf where too few runs "
            "or point forecasts that miss leave it unbounded). "
            "Target: test_loss, or 1-test_accuracy for runs without a loss.\n\n"
            + weights_note(weights) + markdown_table(rows))


BACKTEST_COLUMNS = {
    "predictor": "predictor", "observed_n": "N", "runs": "runs", "forecast": "forecast",
    "final_mae": "final MAE", "final_cover80": "final cover 80",
    "final_cover95": "final cover 95", "final_width80": "final width 80",
    "final_conformal_width80": "final width 80 conformal",
    "final_conformal_cover80_unseen": "final cover 80 conformal, unseen data set",
    "final_crps": "final CRPS", "best_mae": "M_er MAE", "best_cover80": "M_er cover 80",
    "best_cover95": "M_er cover 95", "best_width80": "M_er width 80",
    "best_conformal_width80": "M_er width 80 conformal",
    "best_conformal_cover80_unseen": "M_er cover 80 conformal, unseen data set",
    "best_epoch_mae": "ep* MAE", "stop_correct": "stop correct",
    "seconds_per_curve": "s per curve", "skipped": "skipped"}


def backtest_markdown(summary: pd.DataFrame, title: str, weights: dict | None = None) -> str:
    """The backtest summary: errors, measured coverage, CRPS and stopping calls per
    predictor and N."""
    shown = summary[[column for column in BACKTEST_COLUMNS if column in summary.columns]]
    return (f"# Forecast backtest: {title}\n\nEvery run cut at N epochs, forecast, and "
            "compared with what it then did: mean absolute error of the median forecast, "
            "measured coverage of the nominal 80 % and 95 % intervals, CRPS of the draws, "
            "and the share of correct early-stopping calls (a run continues when it has at "
            "least 5 % chance to beat the best earlier run of its group). `width 80 "
            "conformal` is the mean width the 80 % interval needs for nominal coverage "
            "(split conformal: each run's interval widened or narrowed by how far the other "
            "runs' intervals missed; inf where too few runs back the level or point "
            "forecasts miss), and `cover 80 conformal, unseen data set` the coverage of "
            "intervals calibrated on the other data sets only (empty with one data set). "
            "`forecast` counts "
            "runs with a forecast; `skipped` says why the others have none.\n\n"
            + weights_note(weights) + markdown_table(shown.rename(columns=BACKTEST_COLUMNS)))
