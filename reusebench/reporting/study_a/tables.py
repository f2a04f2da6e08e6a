"""Study A tables: Table 4 over the data sets, and from the per-run metrics Table 5 and the
Eq. 11 validation.

Table 5 and its aggregate over seeds leave out runs flagged diverged or not learning
(:func:`reusebench.core.metrics.flagged`) and count them; the per-data-set tables keep every
run, one row each, with its flags. Eq. 11 compares two data sets named in the config, or
two listed with easy and hard left ``auto``: the one of higher measured contrast CV is easy
(:func:`resolve_eq11`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from reusebench.core.errors import InputError
from reusebench.core.evidence import compare_paired, not_run, seed_summary
from reusebench.core.metricdefs import fit_points_of, grouped_columns, paper_fit_column
from reusebench.core.metrics import coefficient_of_variation, flagged
from reusebench.data.datasets.build import EQ11_AUTO, eq11_names
from reusebench.data.microscopy import SegmentationData

# companion columns the per-data-set tables show beside the metrics (all from the registry)
SHOWN_COMPANIONS = ("stab_delta", "stab_window", "delta_fit_best", "diverged", "not_learning",
                    "flag_reason", "definitions")
CONFIGURATION = ("dataset", "arch", "lr", "init", "device")  # every run key but the seed
TABLE4_COLUMNS = ("dataset", "modality", "n_classes", "mpix", "cv", "n_images", "n_train",
                  "n_test", "image_size")


# ---------------------------------------------------------------- Table 4: the data sets

def table4(datasets: Sequence[SegmentationData]) -> pd.DataFrame:
    """Table 4: one summary row per data set (modality, classes, MPix, CV, counts)."""
    rows = [dataset_summary(data) for data in datasets]
    return pd.DataFrame(rows, columns=list(TABLE4_COLUMNS))


def dataset_summary(data: SegmentationData) -> dict[str, Any]:
    """The data set's row of Table 4, with the CV (Eq. 10) over its training images."""
    n_images, height, width = data.masks.shape
    return {
        "dataset": data.name,
        "modality": data.modality,
        "n_classes": int(data.n_classes),
        "mpix": n_images * height * width / 1e6,
        "cv": coefficient_of_variation(grey(data.images[data.train_index])),
        "n_images": int(n_images),
        "n_train": len(data.train_index),
        "n_test": len(data.test_index),
        "image_size": f"{height}x{width}",
    }


def grey(images: np.ndarray) -> np.ndarray:
    """N×H×W intensities: the channel mean of N×H×W×C images."""
    return images.mean(axis=-1)


# ---------------------------------------------------------------- Table 5, per data set, Eq. 11

def best_per_arch(run_metrics: pd.DataFrame) -> pd.DataFrame:
    """Table 5: per dataset × arch, the unflagged run with the lowest M_er over lr and init.

    Reports that run's M_er, D_unif and the configuration that reached it, with ``n_runs``
    (the dataset × arch's runs) and ``n_flagged`` (those left out as diverged or not
    learning). A dataset × arch without a usable run keeps its row, with NaN M_er.
    """
    marked = flagged(run_metrics)
    counts = run_metrics.assign(n_flagged=marked).groupby(["dataset", "arch"]).agg(
        n_runs=("run_id", "size"), n_flagged=("n_flagged", "sum")).reset_index()
    usable = run_metrics[~marked & run_metrics["m_er"].notna()]
    best_rows = usable.loc[usable.groupby(["dataset", "arch"])["m_er"].idxmin()]
    columns = ["dataset", "arch", "m_er", "d_unif", "lr", "init", "run_id"]
    table = counts.merge(best_rows[columns], on=["dataset", "arch"], how="left")
    table = table[[*columns, "n_runs", "n_flagged"]]
    return table.sort_values(["dataset", "m_er"], na_position="last").reset_index(drop=True)


def table5_notes(run_metrics: pd.DataFrame) -> list[str]:
    """One line on the runs Table 5 leaves out, when there are any."""
    marked = flagged(run_metrics)
    if not marked.any():
        return []
    diverged = int(run_metrics.loc[marked, "diverged"].fillna(False).astype(bool).sum()) \
        if "diverged" in run_metrics else 0
    return [f"Left out {int(marked.sum())} of {len(run_metrics)} runs: {diverged} flagged "
            f"diverged, {int(marked.sum()) - diverged} (more) flagged not learning; n_flagged "
            "counts them per data set and architecture."]


def seed_aggregate(run_metrics: pd.DataFrame) -> pd.DataFrame:
    """Table 5 over seeds: per configuration (every key but the seed), M_er and D_unif.

    Unflagged runs only: ``n`` seeds, ``{m_er,d_unif}_{mean,std,ci_low,ci_high}`` (Student-t
    95 % interval, NaN where n < 2), ``n_flagged`` left out; ``best`` marks the
    configuration of each dataset × arch with the lowest mean M_er.
    """
    marked = flagged(run_metrics)
    keys = list(CONFIGURATION)
    counts = run_metrics.assign(n_flagged=marked).groupby(keys)["n_flagged"].sum()
    usable = run_metrics[~marked]
    summary = (seed_summary(usable, keys, ["m_er", "d_unif"]) if len(usable)
               else pd.DataFrame(columns=[*keys, "n"]))
    table = counts.reset_index().merge(summary, on=keys, how="left")
    table["n"] = table["n"].fillna(0).astype("int64")
    table = table.sort_values(["dataset", "arch", "m_er_mean", "lr", "init"],
                              na_position="last").reset_index(drop=True)
    has_mean = table["m_er_mean"].notna()
    first = ~table.loc[has_mean, ["dataset", "arch"]].duplicated()
    table["best"] = False
    table.loc[first[first].index, "best"] = True
    ordered = [*keys, "n", *[c for c in table.columns if c.startswith(("m_er_", "d_unif_"))],
               "n_flagged", "best"]
    return table[ordered]


def seed_notes(run_metrics: pd.DataFrame) -> list[str]:
    """How many seeds the aggregate rests on, and what it leaves out."""
    usable = run_metrics[~flagged(run_metrics)]
    seeds = usable.groupby(list(CONFIGURATION))["seed"].nunique()
    if seeds.empty or seeds.max() < 2:
        head = ("The grid has one seed per configuration: n = 1, no spread (std and interval "
                "are empty).")
    else:
        span = (f"{seeds.max()}" if seeds.min() == seeds.max()
                else f"{seeds.min()}–{seeds.max()}")
        head = (f"Mean ± std and Student-t 95 % interval over {span} seeds per "
                "configuration; best = lowest mean M_er of its data set and architecture.")
    return [head, *table5_notes(run_metrics)]


def metric_columns(run_metrics: pd.DataFrame) -> list[str]:
    """The registered metric columns of a metrics table (its Δ(fit) N included), with δ, the
    stability window, the best fit, the flags and the definitions, in registry order."""
    ordered = grouped_columns(fit_points_of(run_metrics.columns), SHOWN_COMPANIONS)
    return [column for column in ordered if column in run_metrics.columns]


def per_dataset_tables(run_metrics: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The full metrics table of each dataset, sorted by M_er."""
    columns = ["arch", "init", "lr", "seed", "device", *metric_columns(run_metrics)]
    return {dataset: part.sort_values("m_er")[columns].reset_index(drop=True)
            for dataset, part in run_metrics.groupby("dataset")}


EQ11_CHECKS = (("M_er(easy) < M_er(hard)", "m_er", "<"),
               ("D_unif(easy) > D_unif(hard)", "d_unif", ">"),
               ("Δ(fit, easy) < Δ(fit, hard)", None, "<"))


def eq11_check(run_metrics: pd.DataFrame, easy: str, hard: str,
               fit_column: str | None = None) -> pd.DataFrame:
    """Eq. 11 between a high- and a low-contrast dataset, decided over seeds.

    M_er(easy) < M_er(hard), D_unif(easy) > D_unif(hard), Δ(fit, easy) < Δ(fit, hard);
    Δ(fit) is ``fit_column`` where the table has it, else the power model fitted to the
    first 20 epochs, as the paper's P(PW_20) (the largest fitted N where 20 is not among
    the table's fit points, :func:`reusebench.core.metricdefs.paper_fit_column`). For each seed
    the statistic is the median over that data set's configurations, so one odd run does not
    decide it; the seeds pair easy with hard, and :func:`reusebench.core.evidence.compare_paired`
    decides.
    Runs flagged diverged or not learning are left out and counted in ``reason``.
    """
    for dataset in (easy, hard):
        if dataset not in set(run_metrics["dataset"]):
            raise ValueError(f"dataset {dataset!r} has no runs in the metrics table")
    if fit_column not in run_metrics.columns:
        fit_column = paper_fit_column(fit_points_of(run_metrics.columns))
    pair = run_metrics[run_metrics["dataset"].isin([easy, hard])]
    left_out = flagged(pair)
    per_seed = pair[~left_out].groupby(["dataset", "seed"])[
        ["m_er", "d_unif", fit_column]].median()
    excluded = _excluded_note(pair[left_out])
    return pd.DataFrame([_eq11_row(inequality, column or fit_column, sign, per_seed, easy,
                                   hard, excluded)
                         for inequality, column, sign in EQ11_CHECKS])


def _excluded_note(flagged_runs: pd.DataFrame) -> str:
    if flagged_runs.empty:
        return ""
    counts = ", ".join(f"{count} {dataset}" for dataset, count
                       in flagged_runs["dataset"].value_counts().sort_index().items())
    return f"left out {len(flagged_runs)} runs flagged diverged or not learning ({counts})"


def _eq11_row(inequality: str, column: str, sign: str, per_seed: pd.DataFrame, easy: str,
              hard: str, excluded: str) -> dict[str, object]:
    by_seed = per_seed[column].unstack("dataset") if len(per_seed) else pd.DataFrame()
    if easy in by_seed and hard in by_seed:
        both = by_seed[[easy, hard]].dropna()
        evidence = compare_paired(both[easy], both[hard], sign)
        easy_value, hard_value = both[easy].mean(), both[hard].mean()
    else:
        evidence = not_run("no usable run on one of the data sets")
        easy_value = hard_value = np.nan
    reason = "; ".join(part for part in (evidence.reason, excluded) if part)
    return {"inequality": f"{inequality} [{column}]",
            "statistic": f"median {column} over configurations, per seed; mean over seeds",
            "easy": easy, "easy_value": easy_value, "hard": hard, "hard_value": hard_value,
            "n": evidence.n, "interval": evidence.interval_text(), "verdict": evidence.verdict,
            "reason": reason}


# ---------------------------------------------------------------- which data set is easy

def easy_and_hard_by_contrast(table4: pd.DataFrame, names: Sequence[str]) -> tuple[str, str, str]:
    """(easy, hard, reason): of two data sets, the one with the higher contrast CV is easy.

    The CV is Table 4's ``cv`` column (Eq. 10, over each data set's training images as
    built); the reason cites both values. A missing, non-finite or tied CV is an error.
    """
    cv = {name: _table4_cv(table4, name) for name in names}
    first, second = names
    if cv[first] == cv[second]:
        raise InputError(f"Configuration key study_a.eq11.datasets lists {first} and {second}, "
                         f"whose contrast CVs are equal ({cv[first]:.4g}); name easy and hard.")
    easy, hard = (first, second) if cv[first] > cv[second] else (second, first)
    reason = (f"easy = {easy} (contrast CV {cv[easy]:.3f}), hard = {hard} (CV {cv[hard]:.3f}): "
              "the data set with the higher CV (Eq. 10, Table 4) is the easy one")
    return easy, hard, reason


def resolve_eq11(eq11: Mapping[str, Any], table4: pd.DataFrame) -> tuple[str, str, str]:
    """(easy, hard, reason) for Eq. 11: as configured, or by contrast when both are auto."""
    names = [name for _, name in eq11_names(eq11)]
    if eq11.get("easy") == EQ11_AUTO:
        return easy_and_hard_by_contrast(table4, names)
    easy, hard = names
    return easy, hard, f"easy = {easy}, hard = {hard} as configured (study_a.eq11)"


def _table4_cv(table4: pd.DataFrame, name: str) -> float:
    rows = table4.loc[table4["dataset"] == name, "cv"]
    if len(rows) != 1 or not np.isfinite(rows.iloc[0]):
        raise InputError(f"Table 4 needs one finite contrast CV for data set {name!r}, named by "
                         f"study_a.eq11.datasets, and has {rows.tolist()}.")
    return float(rows.iloc[0])
