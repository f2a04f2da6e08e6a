"""Study A's NAS-Bench-101 analysis (the paragraph on image classification and Fig. 7).

A cell is *ResNet-like* when its input vertex feeds its output vertex directly
(NAS-Bench-101 adds that edge as a residual projection) and *Inception-like* when it
does not (its branches are only concatenated). For each family the accuracies of all
its cells, averaged over repeats, form "contours": mean accuracy at every evaluation
point (the halfway and final evaluation of each epoch budget), ordered by epoch.

- D_unif: Pearson correlation between the train, validation and test contours.
- Δ(fit): PW and EXP fitted to the error contour 1 − accuracy over all points.
- D_init(graph): Σ over matched points of accuracy(Inception-like) − accuracy(ResNet-like).

Losses are not recorded by NAS-Bench-101, so M_er, M_stab, T(M_er), D_re and the GPU
metrics are undefined here.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pandas as pd

from reusebench.core import fit
from reusebench.core.evidence import (
    Evidence,
    compare_paired,
    compare_to_bound,
    enough_points,
    not_run,
)
from reusebench.core.metrics import masked_sum, uniformity

RESNET, INCEPTION = "resnet-like", "inception-like"
SPLITS = ("train", "validation", "test")
FIT_PARAMETERS = 2  # PW and EXP have two; a Pearson correlation fits a line, also two
UNDEFINED_METRICS = ("m_er", "ep_star", "m_stab", "t_m_er", "d_re", "gpu_max_mem_mb",
                     "gpu_avg_util_pct")


def cell_family(adjacency: str, n_vertices: int) -> str:
    """ResNet-like if the input vertex (row 0) has an edge to the output (last column)."""
    return RESNET if adjacency[n_vertices - 1] == "1" else INCEPTION


def with_family(records: pd.DataFrame) -> pd.DataFrame:
    families = [cell_family(adjacency, n) for adjacency, n in
                zip(records["adjacency"], records["n_vertices"], strict=True)]
    return records.assign(family=families)


def evaluation_points(records: pd.DataFrame) -> pd.DataFrame:
    """Long table: one row per (cell, budget, stage) with accuracies averaged over repeats."""
    stages = []
    for stage in ("halfway", "final"):
        columns = {f"{stage}_{split}_accuracy": split for split in SPLITS}
        columns[f"{stage}_epoch"] = "epoch"
        part = records.rename(columns=columns)[["module_hash", "family", "epochs", "epoch",
                                                *SPLITS]]
        stages.append(part.assign(stage=stage))
    points = pd.concat(stages, ignore_index=True)
    return (points.groupby(["module_hash", "family", "epochs", "stage"], as_index=False)
            .mean(numeric_only=True))


def family_summary(points: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of each accuracy per family, budget and stage."""
    grouped = points.groupby(["family", "epochs", "stage"])[list(SPLITS)]
    summary = grouped.agg(["mean", "std"])
    summary.columns = [f"{split}_accuracy_{stat}" for split, stat in summary.columns]
    counts = points.groupby(["family", "epochs", "stage"])["module_hash"].nunique()
    return summary.assign(n_cells=counts).reset_index()


def contours(points: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy per family at each evaluation point, ordered by (epoch, budget)."""
    mean = points.groupby(["family", "epochs", "stage"], as_index=False).mean(numeric_only=True)
    return mean.sort_values(["family", "epoch", "epochs"]).reset_index(drop=True)


def contour_uniformity(contour: pd.DataFrame) -> dict[str, float]:
    """D_unif between each pair of the train/validation/test contours of one family."""
    result = {}
    for first, second in itertools.combinations(SPLITS, 2):
        a = contour[first].to_numpy(dtype="float64")[None, :]
        b = contour[second].to_numpy(dtype="float64")[None, :]
        usable = np.isfinite(a) & np.isfinite(b)
        result[f"d_unif_{first}_{second}"] = float(uniformity(a, b, usable)[0]) \
            if usable.any() else np.nan
    return result


def contour_fits(contour: pd.DataFrame, split: str = "validation") -> dict[str, object]:
    """Δ(fit) of PW and EXP fitted to all measured points of the error contour 1 − accuracy.

    A fit that does not converge (status ``failed`` or ``max_iter``) or that fits the points
    worse than their mean does (``worse_than_mean``, R² < 0: a contour reaching an error of
    exactly 0 can trap the iteration) gives Δ = NaN with its status, not a huge number.
    """
    measured = contour[contour[split].notna() & contour["epoch"].notna()]
    if len(measured) < 2:
        return {**{f"delta_fit_{model}": np.nan for model in fit.MODELS},
                **{f"fit_{model}_status": "too_short" for model in fit.MODELS}}
    epoch = measured["epoch"].to_numpy(dtype="float64")[None, :]
    error = 1.0 - measured[split].to_numpy(dtype="float64")[None, :]
    result: dict[str, object] = {}
    for model in fit.MODELS:
        fitted = fit.fit_curves(model, epoch, error)
        predicted = fit.predict(model, fitted.a, fitted.b, epoch)
        delta = float(masked_sum(np.abs(error - predicted), np.ones_like(error, dtype=bool))[0])
        status = str(fitted.status[0])
        spread = float(((error - error.mean()) ** 2).sum())
        if status == "ok" and not float(((error - predicted) ** 2).sum()) <= spread:
            status = "worse_than_mean"
        result[f"delta_fit_{model}"] = delta if status == "ok" else np.nan
        result[f"fit_{model}_status"] = status
    return result


def graph_compatibility(contour: pd.DataFrame, split: str = "validation") -> float:
    """D_init(graph) = Σ over matched points of accuracy(Inception-like) − accuracy(ResNet)."""
    keyed = contour[contour[split].notna()].set_index(["epochs", "stage"])[[split, "family"]]
    inception = keyed[keyed["family"] == INCEPTION][split]
    resnet = keyed[keyed["family"] == RESNET][split]
    matched = inception.index.intersection(resnet.index)
    if matched.empty:
        return np.nan
    return float((inception.loc[matched] - resnet.loc[matched]).sum())


def analyse(records: pd.DataFrame, split: str = "validation") -> dict[str, pd.DataFrame]:
    """Every table of the analysis: per-family summary, contours, metrics and claims."""
    records = with_family(records)
    points = evaluation_points(records)
    contour = contours(points)
    metrics = family_metrics(records, contour, split)
    d_init = graph_compatibility(contour, split)
    return {"summary": family_summary(points), "contours": contour, "metrics": metrics,
            "claims": paper_claims(metrics, d_init, contour_points(contour, split),
                                   per_repeat_statistics(records, split)),
            "d_init_graph": pd.DataFrame({"split": [split], "d_init_graph": [d_init]})}


def family_metrics(records: pd.DataFrame, contour: pd.DataFrame, split: str) -> pd.DataFrame:
    """D_unif and Δ(fit) of each family's contour."""
    rows = []
    for family, part in contour.groupby("family"):
        rows.append({"family": family,
                     "n_cells": int(records.loc[records["family"] == family,
                                                "module_hash"].nunique()),
                     "n_points": contour_points(part, split),
                     **contour_uniformity(part), **contour_fits(part, split)})
    return pd.DataFrame(rows)


def contour_points(contour: pd.DataFrame, split: str = "validation") -> int:
    """Distinct evaluations in the smallest family contour (a 1-epoch budget's halfway and
    final evaluation are one evaluation, so they count once)."""
    measured = contour[contour[split].notna() & contour["epoch"].notna()]
    if measured.empty:
        return 0
    distinct = measured.drop_duplicates(["family", "epochs", "epoch"])
    return int(distinct.groupby("family").size().min())


def claim_statistics(metrics: pd.DataFrame, d_init_graph: float) -> dict[str, float]:
    """The numbers the four claims compare, from one family-metrics table."""
    by_family = metrics.set_index("family")
    unif_columns = [c for c in metrics.columns if c.startswith("d_unif_")]
    empty = not len(metrics)
    best = by_family[["delta_fit_pw", "delta_fit_exp"]].min(axis=1)
    return {
        "lowest_unif": np.nan if empty else float(metrics[unif_columns].min().min()),
        "pw": np.nan if empty else metrics["delta_fit_pw"].sum(min_count=len(metrics)),
        "exp": np.nan if empty else metrics["delta_fit_exp"].sum(min_count=len(metrics)),
        "resnet_fit": best.get(RESNET, np.nan), "inception_fit": best.get(INCEPTION, np.nan),
        "d_init": d_init_graph}


def per_repeat_statistics(records: pd.DataFrame, split: str) -> pd.DataFrame:
    """The claims' numbers on each repeat's own contours: one row per repeat."""
    rows = []
    for repeat, part in records.groupby("repeat"):
        contour = contours(evaluation_points(part))
        metrics = family_metrics(part, contour, split)
        rows.append({"repeat": repeat, **claim_statistics(
            metrics, graph_compatibility(contour, split))})
    return pd.DataFrame(rows)


def paper_claims(metrics: pd.DataFrame, d_init_graph: float, n_points: int,
                 repeats: pd.DataFrame) -> pd.DataFrame:
    """The paper's four NAS-Bench-101 claims checked against our numbers.

    ``ours`` is measured on the contours averaged over repeats; the verdict is decided
    over repeats (each repeat's own contours) by :mod:`reusebench.core.evidence`, and a fit
    or correlation claim first needs enough points per contour.
    """
    pooled = claim_statistics(metrics, d_init_graph)
    points_gate = enough_points(n_points, FIT_PARAMETERS)
    claims = [
        ("D_unif of train/validation/test contours > 0.999", "> 0.999", ["lowest_unif"],
         points_gate, lambda: compare_to_bound(repeats["lowest_unif"], 0.999, ">", "repeat")),
        ("Δ(fit, power) < Δ(fit, exponential)", "holds", ["pw", "exp"], points_gate,
         lambda: compare_paired(repeats["pw"], repeats["exp"], "<", "repeat")),
        ("Δ(fit, ResNet-like) < Δ(fit, Inception-like)", "holds",
         ["resnet_fit", "inception_fit"], points_gate,
         lambda: compare_paired(repeats["resnet_fit"], repeats["inception_fit"], "<",
                                "repeat")),
        ("D_init(graph) > 0 (a1 = Inception-like, a2 = ResNet-like)", "1.45", ["d_init"], None,
         lambda: compare_to_bound(repeats["d_init"], 0.0, ">", "repeat")),
    ]
    rows = []
    for claim, paper, names, gate, decide in claims:
        ours = [pooled[name] for name in names]
        if not all(np.isfinite(value) for value in ours):
            evidence = not_run("not measurable on this file (a split or family is missing)")
        else:
            evidence = gate or _note_unfitted(decide(), repeats, names)
        rows.append({"claim": claim, "paper": paper,
                     "ours": " vs ".join(f"{value:.6g}" for value in ours),
                     "points": n_points, "repeats": len(repeats), **evidence.columns()})
    return pd.DataFrame(rows)


def _note_unfitted(evidence: Evidence, repeats: pd.DataFrame, names: list[str]) -> Evidence:
    """Say in the reason how many repeats had no usable value (a fit that did not converge)."""
    missing = int(repeats[names].isna().any(axis=1).sum()) if len(repeats) else 0
    if not missing:
        return evidence
    note = f"{missing} of {len(repeats)} repeats left out: no converged fit or no value"
    return replace(evidence, reason="; ".join(part for part in (evidence.reason, note) if part))
